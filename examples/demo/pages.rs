//! The demo's HTML: plain pages with links and forms (no JavaScript), built with `format!`.
//!
//! Anything that came from a visitor (their name, a path) goes through [`escape`] before it reaches a page.

use std::time::{SystemTime, UNIX_EPOCH};

/// One blog post.
pub struct Post {
    pub id: u32,
    pub title: &'static str,
    /// HTML, written here (not user input).
    pub body: &'static str,
}

/// The blog: each post explains the part of the product its page shows.
pub const POSTS: &[Post] = &[
    Post {
        id: 1,
        title: "Sessions, the Django way",
        body: "<p>The counter above lives in your session: a <code>sessionid</code> cookie (HttpOnly, \
               SameSite=Lax) that names a record in the session store. Open another browser and it \
               starts again at 1.</p>\
               <p>Logging in calls <code>cycle_key</code>: your data moves to a new session key, so a \
               key someone planted before you logged in is worth nothing afterwards. Logging out calls \
               <code>flush</code>: the record is deleted and the cookie removed.</p>",
    },
    Post {
        id: 2,
        title: "Caching pages and fragments",
        body: "<p>The home page is cached whole by <code>CachePageLayer</code> (Django's \
               <code>cache_page</code>) for 30 seconds: its time stamp stays put while you reload. \
               <code>curl -i</code> shows the <code>Cache-Status</code> header saying \
               <code>hit</code> or <code>fwd=uri-miss; stored</code>.</p>\
               <p>This page is never cached (it shows your counter), but its sidebar is a cached \
               fragment (Django's <code>{% cache %}</code> tag) kept per user for 30 seconds: see its \
               time stamp.</p>",
    },
    Post {
        id: 3,
        title: "Middleware hooks",
        body: "<p>Every response passes through Django-style middleware (<code>tower-hooks</code>): \
               one adds <code>X-Response-Time</code>, another turns exceptions and panics into \
               friendly error pages through <code>process_exception</code>.</p>\
               <p>Try <a href=\"/boom\">/boom</a>: its handler panics, you get a 500 page, and the \
               server carries on serving. Or a post that does not exist: \
               <a href=\"/post/404\">/post/404</a>.</p>",
    },
];

/// The post with this id.
pub fn find_post(id: u32) -> Option<&'static Post> {
    POSTS.iter().find(|post| post.id == id)
}

/// Who is looking at a page, from their session.
pub struct Visitor<'a> {
    /// The name they logged in with, if they did.
    pub user: Option<&'a str>,
    /// How many pages they have seen in this session, this one included.
    pub visits: u64,
}

/// `text` made safe to put in HTML text or a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#x27;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// The time of day in UTC, `HH:MM:SS`: enough to see when a page or fragment was rendered.
pub fn clock() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let of_day = seconds % 86_400;
    format!(
        "{:02}:{:02}:{:02} UTC",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// A whole page: `title` (already escaped or literal) and `main` (HTML).
pub fn layout(title: &str, main: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · tower-django demo</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <header><a href=\"/\">tower-django demo</a></header>\n{main}\n\
         <footer>Cache, sessions and middleware as Tower layers · \
         <a href=\"/events\">/events</a> (server-sent events, try <code>curl -N</code>)</footer>\n\
         </body>\n</html>\n"
    )
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;\
line-height:1.5;color:#222}header a{font-weight:bold;font-size:1.3rem;text-decoration:none}\
.columns{display:flex;gap:2rem}.columns main{flex:3}aside{flex:1;border-left:2px solid #ddd;padding-left:1rem}\
.stamp{color:#666;font-size:.9rem}footer{margin-top:3rem;color:#666;font-size:.9rem}\
form{margin:1rem 0}code{background:#f3f3f3;padding:0 .2rem}";

/// The home page: the same for everyone, so it is cached whole and shows nothing of the visitor.
pub fn home(rendered_at: &str) -> String {
    let posts: String = POSTS
        .iter()
        .map(|post| {
            format!(
                "<li><a href=\"/post/{}\">{}</a></li>\n",
                post.id, post.title
            )
        })
        .collect();
    let main = format!(
        "<main>\n<h1>A tiny blog</h1>\n<ul>\n{posts}</ul>\n\
         <p class=\"stamp\" id=\"rendered\">Page rendered at {rendered_at}.</p>\n\
         <p>This page is cached whole for 30 s (<code>CachePageLayer</code>): reload, and the time above \
         does not move until the entry expires. It is the same for every visitor, so your session \
         (counter, login) is shown on the posts instead. <code>curl -i</code> this URL to see the \
         <code>Cache-Status</code> and <code>X-Response-Time</code> headers.</p>\n</main>"
    );
    layout("Home", &main)
}

/// A post, with the visitor's counter, the login or logout form and the (cached) `sidebar` HTML.
pub fn post(post: &Post, visitor: &Visitor<'_>, sidebar: &str) -> String {
    let here = format!("/post/{}", post.id);
    let account = match visitor.user {
        Some(user) => format!(
            "<p>Logged in as <strong id=\"user\">{}</strong>.</p>\n\
             <form method=\"post\" action=\"/logout\">\
             <input type=\"hidden\" name=\"next\" value=\"{here}\">\
             <button type=\"submit\" id=\"logout\">Log out</button></form>",
            escape(user)
        ),
        None => format!(
            "<p>Not logged in.</p>\n\
             <form method=\"post\" action=\"/login\">\
             <label>Name <input type=\"text\" name=\"name\" id=\"name\" required maxlength=\"{MAX_NAME}\"></label> \
             <input type=\"hidden\" name=\"next\" value=\"{here}\">\
             <button type=\"submit\" id=\"login\">Log in</button></form>"
        ),
    };
    let main = format!(
        "<div class=\"columns\">\n<main>\n<h1>{}</h1>\n\
         <p>Pages you have seen in this session: <strong id=\"visits\">{}</strong> \
         (<a href=\"{here}\">reload</a>)</p>\n{account}\n{}\n</main>\n{sidebar}\n</div>",
        post.title, visitor.visits, post.body
    );
    layout(post.title, &main)
}

/// The longest name the login form takes.
pub const MAX_NAME: usize = 40;

/// The sidebar fragment for `user`, stamped with when it was rendered.
pub fn sidebar(user: Option<&str>, rendered_at: &str) -> String {
    let greeting = match user {
        Some(user) => format!("Hello, {}!", escape(user)),
        None => "Hello, stranger!".to_owned(),
    };
    let links: String = POSTS
        .iter()
        .map(|post| format!("<li><a href=\"/post/{}\">{}</a></li>", post.id, post.title))
        .collect();
    format!(
        "<aside>\n<p>{greeting}</p>\n<ul>{links}</ul>\n\
         <p class=\"stamp\" id=\"sidebar-rendered\">Sidebar rendered at {rendered_at}, cached for you \
         for 30 s.</p>\n</aside>"
    )
}

/// The page for an error response: what happened in words a visitor understands, and a way back.
pub fn error(status: http::StatusCode) -> String {
    let (title, text) = match status.as_u16() {
        400 => (
            "Bad request",
            "The server could not understand that request (was the name empty?).",
        ),
        403 => ("Forbidden", "You are not allowed to see this page."),
        404 => ("Page not found", "There is nothing at this address."),
        _ => (
            "Something went wrong",
            "The server hit an error while making this page. It has been logged, and the server is \
             still running: the other pages work.",
        ),
    };
    let main = format!(
        "<main>\n<h1 id=\"error\">{title}</h1>\n<p>{text}</p>\n<p class=\"stamp\">HTTP {}</p>\n\
         <p><a href=\"/\">Back to the home page</a></p>\n</main>",
        status.as_u16()
    );
    layout(title, &main)
}

/// The counter a post page shows, read back from its HTML (for the self-check and the tests).
pub fn shown_visits(page: &str) -> Option<u64> {
    between(page, "<strong id=\"visits\">", "<")?.parse().ok()
}

/// The (escaped) name a post page says is logged in, read back from its HTML; `None` when nobody is.
pub fn shown_user(page: &str) -> Option<&str> {
    between(page, "<strong id=\"user\">", "<")
}

/// What `text` holds between the first `start` and the next `end`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}
