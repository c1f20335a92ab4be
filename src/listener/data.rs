//! `DATA`: the message, received whole (or drained when too big) and handed to the pipeline;
//! answered `250` only once it is stored.

use super::session::{reply, Next, Session, State};
use crate::inbound::{Envelope, Outcome};
use smtp_proto::request::receiver::DataReceiver;

impl Session {
    pub(super) fn data(&mut self) -> (String, Next) {
        match std::mem::replace(&mut self.state, State::Ready) {
            State::Rcpt { from, rcpts } => {
                self.state = State::Data {
                    from,
                    rcpts,
                    receiver: DataReceiver::new(),
                    body: Vec::new(),
                };
                reply("354 end data with <CR><LF>.<CR><LF>")
            }
            other => {
                self.state = other;
                reply("503 5.5.1 need RCPT TO first")
            }
        }
    }

    /// Hands a complete message to the pipeline; the reply says whether it was stored.
    pub(super) async fn deliver(&self, from: String, rcpts: Vec<String>, body: Vec<u8>) -> String {
        crate::inbound::received(if self.config.lmtp { "lmtp" } else { "smtp" });
        let mail_from = Some(from);
        let answer = |outcome: anyhow::Result<Outcome>| match outcome {
            Ok(Outcome::Rejected(r)) => format!("{r}\r\n"),
            Ok(_) => "250 2.0.0 message accepted\r\n".to_string(),
            Err(e) => {
                tracing::error!(error = %e, "could not store an inbound message");
                "451 4.3.0 could not store the message, try again later\r\n".to_string()
            }
        };
        if self.config.lmtp {
            // LMTP: one answer per recipient, in order.
            let mut replies = String::new();
            for rcpt in rcpts {
                let envelope = Envelope {
                    mail_from: mail_from.clone(),
                    rcpt_to: vec![rcpt],
                };
                replies.push_str(&answer(self.inbound.deliver(&body, &envelope).await));
            }
            replies
        } else {
            let envelope = Envelope {
                mail_from,
                rcpt_to: rcpts,
            };
            answer(self.inbound.deliver(&body, &envelope).await)
        }
    }
}
