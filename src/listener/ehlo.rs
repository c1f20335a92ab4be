//! `EHLO` / `HELO` (`LHLO` for LMTP) and `STARTTLS`.

use super::session::{reply, Next, Session, State};
use smtp_proto::Request;

impl Session {
    /// A greeting: the one the protocol wants, answered with what we offer.
    pub(super) fn hello(&mut self, request: Request<String>) -> (String, Next) {
        let lmtp = self.config.lmtp;
        match request {
            Request::Ehlo { .. } | Request::Helo { .. } if lmtp => {
                reply("500 5.5.1 this is LMTP: use LHLO")
            }
            Request::Lhlo { .. } if !lmtp => reply("500 5.5.1 this is SMTP: use EHLO"),
            Request::Helo { .. } => {
                self.state = State::Ready;
                reply(&format!("250 {}", self.config.hostname))
            }
            _ => {
                self.state = State::Ready;
                let mut caps = vec![
                    self.config.hostname.clone(),
                    "PIPELINING".into(),
                    "8BITMIME".into(),
                    // RFC 6531: a visitor's address, name or subject in UTF-8 as written
                    // (RFC 6532). An MTA bounces such a reply to a server that does not offer
                    // it; the parser and the reply reader take UTF-8 as it is.
                    "SMTPUTF8".into(),
                    "ENHANCEDSTATUSCODES".into(),
                    format!("SIZE {}", self.inbound.limits().max_message_size),
                ];
                if self.tls.is_some() && !self.secure {
                    caps.push("STARTTLS".into());
                }
                let last = caps.len() - 1;
                let text: String = caps
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("250{}{c}\r\n", if i == last { ' ' } else { '-' }))
                    .collect();
                (text, Next::Continue)
            }
        }
    }

    /// STARTTLS, offered once and only with a certificate.
    pub(super) fn starttls(&mut self) -> (String, Next) {
        if self.tls.is_some() && !self.secure {
            ("220 2.0.0 ready to start TLS\r\n".into(), Next::StartTls)
        } else {
            reply("502 5.5.1 STARTTLS not available")
        }
    }
}
