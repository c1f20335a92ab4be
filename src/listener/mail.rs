//! `MAIL FROM`: the envelope sender, and the size the client announces.

use super::session::{reply, Next, Session, State};
use smtp_proto::MailFrom;

impl Session {
    pub(super) fn mail_from(&mut self, from: MailFrom<String>) -> (String, Next) {
        match &self.state {
            State::Connected => reply("503 5.5.1 say hello first"),
            State::Ready => {
                if from.size > self.inbound.limits().max_message_size {
                    return reply("552 5.3.4 message too big");
                }
                self.state = State::Mail { from: from.address };
                reply("250 2.1.0 sender OK")
            }
            _ => reply("503 5.5.1 sender already given"),
        }
    }
}
