//! Django's template fragment cache (`{% cache 500 sidebar user.id lang %}`) in a handler: the page is
//! rendered on every request, its slow sidebar once per user and language, until invalidated.
//!
//! ```text
//! cargo run --example fragments
//! curl 'http://127.0.0.1:3000/?user=alice&lang=en'    # sidebar rendered (slow)
//! curl 'http://127.0.0.1:3000/?user=alice&lang=en'    # same sidebar render, from the cache (fast)
//! curl 'http://127.0.0.1:3000/?user=bob&lang=fr'      # another user and language: its own fragment
//! curl -X POST 'http://127.0.0.1:3000/sidebar/invalidate?user=alice&lang=en'
//! EXAMPLE_SMOKE=1 cargo run --example fragments      # what CI runs: requests itself, checks, exits
//! ```
//!
//! Concurrent requests for one missing fragment render it once; if the cache fails, the fragment is
//! rendered and served anyway (a fragment cache is an optimisation: it fails open). Nothing else needs to
//! run: the fragments live in the in-process memory cache.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use support::{ensure, BoxError, Client};
use tower_django::cache::backends::MemoryBackend;
use tower_django::cache::{Cache, FragmentCache};

/// How many sidebars were rendered.
static SIDEBAR_RENDERS: AtomicU64 = AtomicU64::new(0);

/// What the fragment varies on (Django's `vary_on` arguments).
#[derive(Deserialize)]
struct Visitor {
    #[serde(default = "anonymous")]
    user: String,
    #[serde(default = "english")]
    lang: String,
}

fn anonymous() -> String {
    "anonymous".into()
}

fn english() -> String {
    "en".into()
}

/// The slow part: say, recommendations computed per user.
async fn render_sidebar(user: &str, lang: &str) -> String {
    tokio::time::sleep(Duration::from_millis(200)).await;
    let render = SIDEBAR_RENDERS.fetch_add(1, Ordering::SeqCst) + 1;
    format!("<aside>links for {user} ({lang}), sidebar render #{render}</aside>")
}

async fn page(
    State(fragments): State<FragmentCache>,
    Query(visitor): Query<Visitor>,
) -> Html<String> {
    let Visitor { user, lang } = &visitor;
    // The key is Django's `make_template_fragment_key("sidebar", [user, lang])`, so a Django app sharing
    // the cache finds the same entries.
    let sidebar = fragments
        .get_or_render("sidebar", &[user, lang], Duration::from_secs(500), || {
            render_sidebar(user, lang)
        })
        .await;
    Html(format!("<main>hello {user}</main>\n{sidebar}\n"))
}

/// After the data behind a sidebar changed.
async fn invalidate(
    State(fragments): State<FragmentCache>,
    Query(visitor): Query<Visitor>,
) -> String {
    match fragments
        .invalidate("sidebar", &[&visitor.user, &visitor.lang])
        .await
    {
        Ok(was_stored) => format!("invalidated (was stored: {was_stored})\n"),
        Err(error) => format!("could not invalidate: {error}\n"),
    }
}

fn app(cache: Cache) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/sidebar/invalidate", post(invalidate))
        .with_state(FragmentCache::new(cache))
}

/// The sidebar part of a page.
fn sidebar(body: &str) -> &str {
    body.find("<aside>").map_or("", |start| &body[start..])
}

async fn smoke(client: Client) -> Result<(), BoxError> {
    let first = client.get("/?user=alice&lang=en").await?;
    let second = client.get("/?user=alice&lang=en").await?;
    ensure(
        sidebar(&first.body).contains("render #1") && sidebar(&second.body) == sidebar(&first.body),
        "alice's sidebar rendered once",
    )?;
    let bob = client.get("/?user=bob&lang=fr").await?;
    ensure(
        sidebar(&bob.body).contains("render #2"),
        "bob's own sidebar",
    )?;
    client
        .post("/sidebar/invalidate?user=alice&lang=en")
        .await?;
    let after = client.get("/?user=alice&lang=en").await?;
    ensure(
        sidebar(&after.body).contains("render #3"),
        "alice's sidebar rendered again after invalidation",
    )
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    support::init_tracing();
    let cache = Cache::new(MemoryBackend::new());
    support::serve(
        app(cache),
        &[
            "curl 'http://{addr}/?user=alice&lang=en'",
            "curl 'http://{addr}/?user=bob&lang=fr'",
            "curl -X POST 'http://{addr}/sidebar/invalidate?user=alice&lang=en'",
        ],
        smoke,
    )
    .await
}
