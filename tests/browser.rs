//! A real browser clicks through the demo (`examples/demo`, included below): headless Chromium driven over
//! WebDriver by chromedriver, both Debian's (`bash .ci/install-browser.sh` installs them).
//!
//! The visitor opens the home page, follows a link to a post, logs in through the form, sees the counter
//! grow as pages load, logs out, and the session cookie is read back as the browser stored it: HttpOnly,
//! SameSite=Lax, not Secure (plain http), a new key after login and another after logout.
//!
//! Skipped with a note on stderr when `chromium` or `chromedriver` is not on `PATH`, a failure instead
//! when `TEST_REQUIRE_SERVERS=1`. Takes a few seconds; every wait is bounded.

mod web;

#[allow(dead_code)]
#[path = "../examples/demo/app.rs"]
mod app;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use cookie::{Cookie, SameSite};
use fantoccini::wd::{Capabilities, TimeoutConfiguration};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::process::{Child, Command};

use app::Backends;
use web::{Browser, Server};

/// Chromium's flags: headless, and nothing that reaches for the network on its own (this must work
/// without any network but loopback).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// How long chromedriver may take to start, and Chromium to load a page or find an element.
const WAIT: Duration = Duration::from_secs(30);

/// The whole scenario, a hang included, fails after this.
const SCENARIO_DEADLINE: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_logs_in_counts_pages_and_logs_out_in_chromium() {
    let (Some(chromium), Some(chromedriver)) = (program("chromium"), program("chromedriver"))
    else {
        assert!(
            std::env::var("TEST_REQUIRE_SERVERS").as_deref() != Ok("1"),
            "chromium and chromedriver are needed (bash .ci/install-browser.sh) and \
             TEST_REQUIRE_SERVERS=1"
        );
        eprintln!(
            "skipped: chromium or chromedriver is not installed (bash .ci/install-browser.sh)"
        );
        return;
    };
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().expect("a temp dir");
    let session_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("sessions.db").display()
    );
    let backends = Backends::connect("memory://", &session_url)
        .await
        .expect("the demo's backends");
    let server = Server::start(app::router(&backends)).await;

    let driver = Chromedriver::start(&chromedriver, dir.path())
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let client = driver
        .session(&chromium, &dir.path().join("profile"))
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    // The browser is closed whatever happened, so no Chromium outlives the test.
    let outcome = tokio::time::timeout(SCENARIO_DEADLINE, scenario(&client, &server.base()))
        .await
        .unwrap_or_else(|_| Err(format!("the scenario took over {SCENARIO_DEADLINE:?}")));
    let closed = client.close().await;
    drop(driver);
    if let Err(error) = outcome {
        panic!("{error}\n{}", driver_log(dir.path()));
    }
    closed.expect("the browser closes");
    eprintln!("browser scenario: {:.1} s", started.elapsed().as_secs_f64());
}

/// What a visitor does, checked as they go.
async fn scenario(client: &Client, base: &str) -> Result<(), String> {
    client
        .goto(&format!("{base}/"))
        .await
        .map_err(|error| format!("open the home page: {error}"))?;
    click(client, Locator::LinkText("Sessions, the Django way")).await?;
    expect_path(client, "/post/1").await?;
    expect_visitor(client, 1, None).await?;
    let anonymous = session_cookie(client).await?;

    // Log in through the form: the browser follows the 303 back to the post.
    let name = find(client, Locator::Id("name")).await?;
    name.send_keys("Alice")
        .await
        .map_err(|error| format!("type the name: {error}"))?;
    click(client, Locator::Id("login")).await?;
    expect_path(client, "/post/1").await?;
    expect_visitor(client, 2, Some("Alice")).await?;
    let logged_in = session_cookie(client).await?;
    if logged_in.value() == anonymous.value() {
        return Err("login kept the session key".into());
    }

    // The counter grows with every page load: a reload, then another post through the sidebar.
    client
        .refresh()
        .await
        .map_err(|error| format!("reload: {error}"))?;
    expect_visitor(client, 3, Some("Alice")).await?;
    click(client, Locator::LinkText("Middleware hooks")).await?;
    expect_path(client, "/post/3").await?;
    expect_visitor(client, 4, Some("Alice")).await?;

    // Log out: back on the same post, anonymous, counting from 1 in a new session.
    click(client, Locator::Id("logout")).await?;
    expect_path(client, "/post/3").await?;
    expect_visitor(client, 1, None).await?;
    let after = session_cookie(client).await?;
    if after.value() == logged_in.value() || after.value() == anonymous.value() {
        return Err("after logout the browser still holds an old session key".into());
    }

    // The cookie as the browser keeps it.
    for cookie in [&anonymous, &logged_in, &after] {
        let flags = (cookie.http_only(), cookie.same_site(), cookie.secure());
        if flags != (Some(true), Some(SameSite::Lax), Some(false)) {
            return Err(format!(
                "sessionid cookie (HttpOnly, SameSite, Secure) = {flags:?}, expected \
                 (Some(true), Some(Lax), Some(false))"
            ));
        }
        if cookie.path() != Some("/") {
            return Err(format!("sessionid cookie path {:?}", cookie.path()));
        }
    }
    Ok(())
}

async fn find(
    client: &Client,
    locator: Locator<'_>,
) -> Result<fantoccini::elements::Element, String> {
    client
        .wait()
        .at_most(WAIT)
        .for_element(locator)
        .await
        .map_err(|error| format!("find {locator:?}: {error}"))
}

async fn click(client: &Client, locator: Locator<'_>) -> Result<(), String> {
    find(client, locator)
        .await?
        .click()
        .await
        .map_err(|error| format!("click {locator:?}: {error}"))
}

/// The page shown is, or soon becomes, `path`.
async fn expect_path(client: &Client, path: &str) -> Result<(), String> {
    eventually(|| async move {
        let url = client
            .current_url()
            .await
            .map_err(|error| format!("current URL: {error}"))?;
        if url.path() != path {
            return Err(format!("on {url}, expected {path}"));
        }
        Ok(())
    })
    .await
}

/// Checks `check` until it passes or [`WAIT`] runs out. After a click the browser may still show the page
/// it is leaving for a moment (a form's POST answered by a 303 to the same path looks just like it), and
/// elements of a page being replaced go stale; neither is a failure until the wait is over.
async fn eventually<F, Fut>(mut check: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match check().await {
            Ok(()) => return Ok(()),
            Err(error) if tokio::time::Instant::now() >= deadline => return Err(error),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The post page shows, or soon shows, `visits` and `user` (nobody: the login form).
async fn expect_visitor(client: &Client, visits: u64, user: Option<&str>) -> Result<(), String> {
    eventually(|| shows_visitor(client, visits, user)).await
}

async fn shows_visitor(client: &Client, visits: u64, user: Option<&str>) -> Result<(), String> {
    let shown = find(client, Locator::Id("visits"))
        .await?
        .text()
        .await
        .map_err(|error| format!("read the counter: {error}"))?;
    let shown_user = match user {
        Some(_) => Some(
            find(client, Locator::Id("user"))
                .await?
                .text()
                .await
                .map_err(|error| format!("read the user: {error}"))?,
        ),
        // Not logged in: the login form is there instead.
        None => find(client, Locator::Id("login")).await.map(|_| None)?,
    };
    if shown != visits.to_string() || shown_user.as_deref() != user {
        return Err(format!(
            "the page shows visits {shown:?} and user {shown_user:?}, expected {visits} and {user:?}"
        ));
    }
    Ok(())
}

async fn session_cookie(client: &Client) -> Result<Cookie<'static>, String> {
    client
        .get_named_cookie("sessionid")
        .await
        .map_err(|error| format!("the browser has no sessionid cookie: {error}"))
}

// ---------------------------------------------------------------------------------------------------------
// chromedriver

/// `name`'s path when it is an executable file on `PATH`.
fn program(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// A chromedriver on a spare loopback port; killed when dropped.
struct Chromedriver {
    process: Child,
    url: String,
}

impl Chromedriver {
    /// Starts chromedriver (its log in `dir`) and waits until it says it is ready.
    async fn start(program: &Path, dir: &Path) -> Result<Chromedriver, String> {
        let port = spare_port();
        let mut process = Command::new(program)
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                dir.join("chromedriver.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("start {}: {error}", program.display()))?;
        let base = format!("http://127.0.0.1:{port}");
        let mut probe = Browser::new(base.clone());
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Ok((200, _, body)) = probe
                .try_send(http::Method::GET, "/status", Duration::from_secs(2))
                .await
            {
                if String::from_utf8_lossy(&body).contains("\"ready\":true") {
                    return Ok(Chromedriver { process, url: base });
                }
            }
            if let Ok(Some(status)) = process.try_wait() {
                return Err(format!(
                    "chromedriver exited: {status}\n{}",
                    driver_log(dir)
                ));
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!(
                    "chromedriver not ready within {WAIT:?}\n{}",
                    driver_log(dir)
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A new headless Chromium with a fresh profile in `profile`.
    async fn session(&self, chromium: &Path, profile: &Path) -> Result<Client, String> {
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|&flag| flag.to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let mut capabilities = Capabilities::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": chromium, "args": args }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .map_err(|error| format!("start Chromium through chromedriver: {error}"))?;
        let timeouts = TimeoutConfiguration::new(Some(WAIT), Some(WAIT), Some(Duration::ZERO));
        if let Err(error) = client.update_timeouts(timeouts).await {
            let _ = client.close().await;
            return Err(format!("set the timeouts: {error}"));
        }
        Ok(client)
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.process.start_kill();
    }
}

/// A loopback port nobody listens on right now.
fn spare_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a spare loopback port")
        .port()
}

/// The end of chromedriver's log, for failure messages.
fn driver_log(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("chromedriver.log")).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(30).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    format!("chromedriver log (last lines):\n{}", tail.join("\n"))
}
