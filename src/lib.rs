//! edgeport: an AI gateway at the edge. OpenAI and Anthropic APIs in, AWS Bedrock out.
//!
//! The request's path: `gateway` routes it, `api` parses it, `catalog` resolves the provider,
//! `providers::bedrock` maps, signs and sends it, `stream` turns event streams into SSE.
//! Everything except `shell` is plain Rust that compiles and tests natively; `shell` adapts it to
//! the Workers runtime.

pub mod api;
pub mod budget;
pub mod catalog;
pub mod crc32;
pub mod credentials;
pub mod error;
pub mod gateway;
pub mod http;
pub mod limits;
pub mod lru;
pub mod net;
pub mod platform;
pub mod providers;
pub mod routing;
pub mod settings;
pub mod stream;
pub mod trace;
pub mod usage;

#[cfg(target_arch = "wasm32")]
mod shell;

#[cfg(target_arch = "wasm32")]
#[worker::event(fetch)]
async fn fetch(
    req: worker::web_sys::Request,
    env: worker::Env,
    ctx: worker::Context,
) -> worker::Result<worker::web_sys::Response> {
    console_error_panic_hook::set_once();
    shell::serve(req, env, ctx).await
}
