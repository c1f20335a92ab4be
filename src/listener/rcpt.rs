//! `RCPT TO`: each recipient's reply token checked now, so a bad one is refused before the
//! message is sent and the sender's own server bounces it.

use super::session::{reply, Next, Session, State};
use super::MAX_RECIPIENTS;
use smtp_proto::RcptTo;

impl Session {
    pub(super) fn rcpt_to(&mut self, to: RcptTo<String>) -> (String, Next) {
        let (from, mut rcpts) = match std::mem::replace(&mut self.state, State::Ready) {
            State::Mail { from } => (from, Vec::new()),
            State::Rcpt { from, rcpts } => (from, rcpts),
            other => {
                self.state = other;
                return reply("503 5.5.1 need MAIL FROM first");
            }
        };
        let answer = if rcpts.len() >= MAX_RECIPIENTS {
            "452 4.5.3 too many recipients".to_string()
        } else {
            match self.inbound.check_recipient(&to.address) {
                Ok(()) => {
                    rcpts.push(to.address);
                    "250 2.1.5 recipient OK".into()
                }
                Err(rejection) => rejection.to_string(),
            }
        };
        self.state = if rcpts.is_empty() {
            State::Mail { from }
        } else {
            State::Rcpt { from, rcpts }
        };
        reply(&answer)
    }
}
