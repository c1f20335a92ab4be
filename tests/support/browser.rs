//! A headless Chromium driven over WebDriver (Debian's `chromium-driver`), for the tests of
//! what a person sees and clicks.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `chromedriver`, killed when dropped, and the URL it listens on.
pub struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts chromedriver on a port it picks and says, with the browser's zone set to Madrid.
/// A chromedriver that exits before saying its port (seen once in 20 runs under load, with
/// many sockets open around it) is started again, at most three times, and what each said is
/// in the panic if none starts.
pub fn chromedriver() -> Option<Driver> {
    let mut said = Vec::new();
    for _ in 0..3 {
        match start_chromedriver()? {
            Ok(driver) => return Some(driver),
            Err(lines) => said.push(lines),
        }
    }
    panic!("chromedriver exited three times without saying its port: {said:?}");
}

/// One start: the driver, or what it said before it exited; `None` where it is not installed.
fn start_chromedriver() -> Option<Result<Driver, Vec<String>>> {
    use std::io::{BufRead, BufReader};
    // Through a shell, so what it says on standard error comes with the rest.
    let mut child = Command::new("sh")
        .args([
            "-c",
            "command -v chromedriver >/dev/null && exec chromedriver --port=0 2>&1",
        ])
        .env("TZ", "Europe/Madrid")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let mut said = Vec::new();
    let port = loop {
        line.clear();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            let status = child.wait().ok().and_then(|s| s.code());
            // `command -v` failed: not installed.
            if status == Some(1) && said.is_empty() {
                return None;
            }
            said.push(format!("exit {status:?}"));
            return Some(Err(said));
        }
        said.push(line.trim().to_string());
        // The first line says the port asked for (0); this one, the port it took.
        if let Some(rest) = line.split("started successfully on port ").nth(1) {
            break rest
                .trim()
                .trim_end_matches('.')
                .parse::<u16>()
                .expect("a port");
        }
    };
    // Keep reading what it says, so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in out.lines() {});
    Some(Ok(Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }))
}

pub async fn browser(driver: &Driver) -> Client {
    // The WebDriver client is built with rustls, which needs its crypto chosen once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--lang=es-ES"],
            "prefs": {"intl.accept_languages": "es-ES,es"}
        }),
    );
    ClientBuilder::rustls()
        .expect("rustls")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session")
}

/// Polls `check` until it holds, for 30 s at most.
pub async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The text of the element with this id, or nothing.
pub async fn text_of(browser: &Client, id: &str) -> String {
    match browser.find(Locator::Id(id)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// chromedriver beside Chromium, or why they cannot run here (for the test to report skipped).
pub fn driver() -> Result<Driver, &'static str> {
    if !std::path::Path::new("/usr/bin/chromium").exists() {
        return Err("chromium is not installed (apt-get install chromium chromium-driver)");
    }
    chromedriver().ok_or("chromedriver is not installed (apt-get install chromium-driver)")
}

/// Clicks the element with this id.
pub async fn click(browser: &Client, id: &str) {
    browser
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id}: {e}"))
        .click()
        .await
        .unwrap();
}
