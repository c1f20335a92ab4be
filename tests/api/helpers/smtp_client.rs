//! A mail client nobody here wrote: Python's smtplib, speaking to the listener over loopback.

/// Sends each message in turn over one connection with Python's smtplib, from `from` to its
/// recipients; returns what each came to: `OK {refused}`, `REFUSED {…}` or `ERROR code text`.
pub fn smtplib_send_all(
    addr: std::net::SocketAddr,
    from: &str,
    messages: &[(Vec<String>, Vec<u8>)],
) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, (to, raw)) in messages.iter().enumerate() {
        let path = dir.path().join(format!("{i}.eml"));
        std::fs::write(&path, raw).unwrap();
        files.push((path.display().to_string(), to.clone()));
    }
    let script = format!(
        r#"
import smtplib
messages = {files:?}
with smtplib.SMTP("{ip}", {port}, timeout=30) as s:
    s.ehlo("client.test")
    for path, to in messages:
        data = open(path, "rb").read()
        try:
            print("OK", s.sendmail({from:?}, to, data))
        except smtplib.SMTPRecipientsRefused as e:
            print("REFUSED", {{k: v[0] for k, v in e.recipients.items()}})
            s.rset()
        except smtplib.SMTPResponseException as e:
            print("ERROR", e.smtp_code, e.smtp_error.decode())
            s.rset()
"#,
        files = files
            .iter()
            .map(|(p, to)| (p.as_str(), to.clone()))
            .collect::<Vec<_>>(),
        ip = addr.ip(),
        port = addr.port(),
    );
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        lines.len(),
        messages.len(),
        "smtplib: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines
}

/// [`smtplib_send_all`] for one message.
pub fn smtplib_send(addr: std::net::SocketAddr, from: &str, to: &[&str], raw: &[u8]) -> String {
    let to = to.iter().map(|t| t.to_string()).collect();
    smtplib_send_all(addr, from, &[(to, raw.to_vec())]).remove(0)
}
