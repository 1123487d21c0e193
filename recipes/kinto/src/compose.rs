//! Several [`ResourceHooks`] as one: each resource's own behaviour, then
//! the schema checks, then the history, in that order.

use std::sync::Arc;

use async_trait::async_trait;
use cliquet_errors::ApiError;
use cliquet_resource::{CacheHeaders, Change, HookContext, ResourceHooks};
use cliquet_storage::Object;
use serde_json::{Map, Value};

/// Hooks run one after the other: `before_request` and `after_write` stop
/// at the first error, `process_object` and `read_cache` pass each one's
/// result to the next.
#[derive(Clone, Default)]
pub struct Chain(Vec<Arc<dyn ResourceHooks>>);

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Chain({} hooks)", self.0.len())
    }
}

impl Chain {
    /// A chain starting with `first`.
    pub fn new(first: impl ResourceHooks) -> Self {
        Self(vec![Arc::new(first)])
    }

    /// Adds `next` at the end.
    pub fn then(mut self, next: impl ResourceHooks) -> Self {
        self.0.push(Arc::new(next));
        self
    }

    /// Adds `next` at the end when there is one.
    pub fn then_some(self, next: Option<impl ResourceHooks>) -> Self {
        match next {
            Some(next) => self.then(next),
            None => self,
        }
    }
}

#[async_trait]
impl ResourceHooks for Chain {
    async fn before_request(&self, ctx: &HookContext<'_>) -> Result<(), ApiError> {
        for hooks in &self.0 {
            hooks.before_request(ctx).await?;
        }
        Ok(())
    }

    async fn process_object(
        &self,
        ctx: &HookContext<'_>,
        mut new: Map<String, Value>,
        old: Option<&Object>,
    ) -> Result<Map<String, Value>, ApiError> {
        for hooks in &self.0 {
            new = hooks.process_object(ctx, new, old).await?;
        }
        Ok(new)
    }

    async fn read_cache(
        &self,
        ctx: &HookContext<'_>,
        mut configured: CacheHeaders,
    ) -> Result<CacheHeaders, ApiError> {
        for hooks in &self.0 {
            configured = hooks.read_cache(ctx, configured).await?;
        }
        Ok(configured)
    }

    async fn after_write(&self, ctx: &HookContext<'_>, changes: &[Change]) -> Result<(), ApiError> {
        for hooks in &self.0 {
            hooks.after_write(ctx, changes).await?;
        }
        Ok(())
    }
}
