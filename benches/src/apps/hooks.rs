//! A `tower-hooks` middleware that implements every hook as a no-op: what the hooks machinery itself costs.

use axum::http::request::Parts;
use tower_django::hooks::{
    async_trait, Exception, HooksLayer, Middleware, Request, Response, TemplateResponse, ViewInfo,
};

/// Implements every hook, each doing nothing.
pub struct Noop;

#[async_trait]
impl Middleware for Noop {
    async fn process_request(&self, _request: &mut Request) -> Result<Option<Response>, Exception> {
        Ok(None)
    }
    async fn process_view(
        &self,
        _request: &mut Request,
        _view: &ViewInfo,
    ) -> Result<Option<Response>, Exception> {
        Ok(None)
    }
    async fn process_exception(
        &self,
        _request: &Parts,
        _exception: &Exception,
    ) -> Result<Option<Response>, Exception> {
        Ok(None)
    }
    async fn process_template_response(
        &self,
        _request: &Parts,
        _response: &mut TemplateResponse,
    ) -> Result<(), Exception> {
        Ok(())
    }
    async fn process_response(
        &self,
        _request: &Parts,
        _response: &mut Response,
    ) -> Result<(), Exception> {
        Ok(())
    }
}

/// A `HooksLayer` of `count` [`Noop`] middleware.
pub fn noop_layer(count: usize) -> HooksLayer {
    (0..count).fold(HooksLayer::new(), |layer, _| layer.push(Noop))
}
