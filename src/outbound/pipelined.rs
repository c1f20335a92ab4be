//! One SMTP transaction with its commands pipelined (RFC 2920): `MAIL`, `RCPT` and `DATA` go
//! in one write and their answers are read in order, two waits for the relay's answers per
//! email where lettre's own `send` has four.
//!
//! lettre speaks the protocol everywhere else (EHLO, STARTTLS, AUTH, the message and its final
//! dot); it does not pipeline, and it does not record whether the relay offers PIPELINING.

use lettre::address::Envelope;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;
use lettre::transport::smtp::Error;

/// Whether the relay offers PIPELINING. lettre keeps only the extensions it uses from the
/// greeting's EHLO, so EHLO is sent once more and its answer read here. Called before AUTH:
/// a client is not to send EHLO after it.
pub(super) async fn offers_pipelining(
    conn: &mut AsyncSmtpConnection,
    hello: &ClientId,
) -> Result<bool, Error> {
    let answer = conn.command(Ehlo::new(hello.clone())).await?;
    let offers = answer.message().any(names_pipelining);
    Ok(offers)
}

/// Whether one line of an EHLO answer is the PIPELINING keyword (`250-PIPELINING`'s text).
fn names_pipelining(line: &str) -> bool {
    (line.split_whitespace().next()).is_some_and(|k| k.eq_ignore_ascii_case("PIPELINING"))
}

/// Sends one message over a connection whose relay offers PIPELINING. On any refusal the
/// connection is closed, as lettre does: a `DATA` the relay took after a refused command ends
/// with the closed connection, never with a final dot, so nothing is delivered by it.
pub(super) async fn send(
    conn: &mut AsyncSmtpConnection,
    envelope: &Envelope,
    raw: &[u8],
) -> Result<Response, Error> {
    let eight_bit = !raw.is_ascii();
    // lettre's own checks and errors for what needs an extension the relay may lack.
    let addresses = envelope.from().into_iter().chain(envelope.to());
    if addresses.map(AsRef::<str>::as_ref).any(|a| !a.is_ascii())
        || (eight_bit && !conn.server_info().supports_feature(Extension::EightBitMime))
    {
        return conn.send(envelope, raw).await;
    }
    let parameters = match eight_bit {
        true => vec![MailParameter::Body(MailBodyParameter::EightBitMime)],
        false => Vec::new(),
    };
    let mut commands = Mail::new(envelope.from().cloned(), parameters).to_string();
    for to in envelope.to() {
        commands.push_str(&Rcpt::new(to.clone(), Vec::new()).to_string());
    }
    commands.push_str(&Data.to_string());
    // Every answer is read, so that the refusal reported is the first one (a refused
    // recipient's, not the `554 no valid recipients` that `DATA` then gets).
    let mut refused = None;
    for i in 0..envelope.to().len() + 2 {
        let answer = match i {
            0 => conn.command(&commands).await,
            _ => conn.read_response().await,
        };
        match answer {
            Ok(_) => {}
            // An answer that refuses: the relay goes on answering the rest.
            Err(e) if e.status().is_some() => {
                refused.get_or_insert(e);
            }
            // No answer at all (a broken connection, an unreadable reply).
            Err(e) => return Err(closed(conn, e).await),
        }
    }
    if let Some(e) = refused {
        return Err(closed(conn, e).await);
    }
    match conn.message(raw).await {
        Ok(answer) => Ok(answer),
        Err(e) => Err(closed(conn, e).await),
    }
}

/// Closes a connection after an error (QUIT, then the socket) and hands the error back.
async fn closed(conn: &mut AsyncSmtpConnection, e: Error) -> Error {
    conn.abort().await;
    e
}

#[cfg(test)]
mod tests {
    use super::names_pipelining;

    #[test]
    fn the_pipelining_keyword_is_found_in_an_ehlo_answer() {
        for (line, offers) in [
            ("PIPELINING", true),
            ("pipelining", true),
            ("PIPELINING ", true),
            ("SIZE 10240000", false),
            ("mx.example.com Hello", false),
            ("X-PIPELINING-LATER", false),
            ("", false),
        ] {
            assert_eq!(names_pipelining(line), offers, "{line:?}");
        }
    }
}
