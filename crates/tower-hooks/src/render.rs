//! Turning a [`TemplateResponse`](crate::TemplateResponse) into bytes: the [`Renderer`] trait, its errors,
//! and `MiniJinjaRenderer` (feature `minijinja`).

use tower::BoxError;

use crate::template::Context;

/// Renders a template by name with a context. One renderer is set on the
/// [`HooksLayer`](crate::HooksLayer) and renders every [`TemplateResponse`](crate::TemplateResponse) that
/// reaches it.
///
/// Rendering is synchronous: template engines are CPU-bound and MiniJinja, Tera and Askama are all sync.
/// It runs on the request's task, so keep templates to what a request should cost.
///
/// Any `Fn(&str, &Context) -> Result<String, RenderError>` is a renderer, which is handy in tests:
///
/// ```
/// use tower_hooks::{Context, RenderError, Renderer};
///
/// let greet = |name: &str, ctx: &Context| -> Result<String, RenderError> {
///     match name {
///         "hello.txt" => Ok(format!("Hello, {}!", ctx["who"].as_str().unwrap_or("world"))),
///         other => Err(RenderError::TemplateNotFound(other.to_owned())),
///     }
/// };
/// let mut ctx = Context::new();
/// ctx.insert("who".into(), "Ada".into());
/// assert_eq!(greet.render("hello.txt", &ctx).unwrap(), "Hello, Ada!");
/// assert!(greet.render("nope.txt", &ctx).is_err());
/// ```
pub trait Renderer: Send + Sync + 'static {
    /// Renders `template` with `context`.
    fn render(&self, template: &str, context: &Context) -> Result<String, RenderError>;
}

impl<F> Renderer for F
where
    F: Fn(&str, &Context) -> Result<String, RenderError> + Send + Sync + 'static,
{
    fn render(&self, template: &str, context: &Context) -> Result<String, RenderError> {
        self(template, context)
    }
}

/// Why a template could not be rendered. The layer raises it as an exception of kind
/// [`ExceptionKind::Other`](crate::ExceptionKind::Other), so `process_exception` hooks can see it with
/// `exception.downcast_ref::<RenderError>()`, and the client gets a 500 if none answers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// No template with that name (Django's `TemplateDoesNotExist`).
    #[error("template `{0}` does not exist")]
    TemplateNotFound(String),
    /// The template exists but failed to render (syntax error, undefined filter, ...).
    #[error("failed to render template `{template}`: {source}")]
    Render {
        /// The template being rendered.
        template: String,
        /// What the engine reported.
        #[source]
        source: BoxError,
    },
    /// The context could not be built (a value that does not serialize, see
    /// [`TemplateResponse::with`](crate::TemplateResponse::with)).
    #[error("invalid context for template `{template}`: {reason}")]
    Context {
        /// The template being rendered.
        template: String,
        /// What went wrong.
        reason: String,
    },
    /// The layer has no renderer: call [`HooksLayer::renderer`](crate::HooksLayer::renderer).
    #[error("no renderer is configured on the HooksLayer to render template `{0}`")]
    NoRenderer(String),
}

#[cfg(feature = "minijinja")]
pub use self::minijinja_renderer::MiniJinjaRenderer;

#[cfg(feature = "minijinja")]
mod minijinja_renderer {
    use std::fmt;
    use std::sync::Arc;

    use minijinja::value::{Serde, Value};
    use minijinja::{Environment, ErrorKind};

    use super::{RenderError, Renderer};
    use crate::template::Context;

    /// A [`Renderer`] over a [`minijinja::Environment`] (feature `minijinja`).
    ///
    /// Load templates into the environment as usual (`add_template_owned`, a loader, ...); auto-escaping
    /// follows the environment's rules (on for `.html`, `.htm` and `.xml` by default).
    ///
    /// ```
    /// use tower_hooks::{Context, MiniJinjaRenderer, Renderer};
    ///
    /// let mut env = minijinja::Environment::new();
    /// env.add_template_owned("hi.html", "<p>Hi {{ name }}</p>").unwrap();
    /// let renderer = MiniJinjaRenderer::new(env);
    ///
    /// let mut ctx = Context::new();
    /// ctx.insert("name".into(), "<Ada>".into());
    /// assert_eq!(renderer.render("hi.html", &ctx).unwrap(), "<p>Hi &lt;Ada&gt;</p>");
    /// ```
    #[derive(Clone)]
    pub struct MiniJinjaRenderer {
        env: Arc<Environment<'static>>,
    }

    impl MiniJinjaRenderer {
        /// Renders with `env`.
        pub fn new(env: Environment<'static>) -> Self {
            Self { env: Arc::new(env) }
        }

        /// The environment templates are rendered with.
        pub fn environment(&self) -> &Environment<'static> {
            &self.env
        }
    }

    impl From<Environment<'static>> for MiniJinjaRenderer {
        fn from(env: Environment<'static>) -> Self {
            Self::new(env)
        }
    }

    impl fmt::Debug for MiniJinjaRenderer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("MiniJinjaRenderer").finish_non_exhaustive()
        }
    }

    impl Renderer for MiniJinjaRenderer {
        fn render(&self, template: &str, context: &Context) -> Result<String, RenderError> {
            let tmpl = self.env.get_template(template).map_err(|e| {
                if e.kind() == ErrorKind::TemplateNotFound {
                    RenderError::TemplateNotFound(template.to_owned())
                } else {
                    RenderError::Render {
                        template: template.to_owned(),
                        source: Box::new(e),
                    }
                }
            })?;
            tmpl.render(Value::from(Serde(context)))
                .map_err(|e| RenderError::Render {
                    template: template.to_owned(),
                    source: Box::new(e),
                })
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn missing_template_and_syntax_errors_are_distinguished() {
            let mut env = Environment::new();
            env.add_template_owned("ok.txt", "{{ a }}-{{ b|upper }}")
                .unwrap();
            env.add_template_owned("bad.txt", "{{ a|no_such_filter }}")
                .unwrap();
            let r = MiniJinjaRenderer::new(env);
            let mut ctx = Context::new();
            ctx.insert("a".into(), 1.into());
            ctx.insert("b".into(), "x".into());
            assert_eq!(r.render("ok.txt", &ctx).unwrap(), "1-X");
            assert!(matches!(
                r.render("nope.txt", &ctx),
                Err(RenderError::TemplateNotFound(name)) if name == "nope.txt"
            ));
            assert!(matches!(
                r.render("bad.txt", &ctx),
                Err(RenderError::Render { template, .. }) if template == "bad.txt"
            ));
        }
    }
}
