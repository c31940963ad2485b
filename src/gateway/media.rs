//! Images given by `https://` URL: Bedrock only takes bytes or S3, so the Worker downloads them
//! and inlines them as `data:` URLs before the (pure) mapping runs. The reference gateway fails
//! these with a 500; here every failure is a 400 naming the part.
//!
//! Limits: 3.75 MB per image (Bedrock's own image limit), png / jpeg / gif / webp only (the
//! bytes are sniffed, not just the content type believed), at most 20 downloads per request,
//! no private, loopback or metadata addresses (the Worker must not be a way into them) unless the
//! operator listed the host in TRUSTED_CUSTOM_HOSTS. Redirects are followed by the runtime.
//! Downloads are unsigned and run concurrently.

use base64::Engine;
use futures_util::StreamExt;

use crate::api::openai::{ChatMessage, ContentPart, MessageContent};
use crate::error::{GatewayError, Result};
use crate::gateway::target::is_internal_host;
use crate::gateway::Settings;
use crate::platform::{Platform, UpstreamRequest};
use crate::providers::bedrock::endpoint::BaseUrl;

/// Bedrock's limit for one image.
pub const MAX_IMAGE_BYTES: usize = 3_750_000;
/// Bedrock takes at most 20 images in one request.
pub const MAX_REMOTE_IMAGES: usize = 20;

/// Replaces every `http(s)://` `image_url` in `messages` with a `data:` URL of its bytes.
pub async fn inline_remote_images<P: Platform>(
    platform: &P,
    settings: &Settings,
    messages: &mut [ChatMessage],
) -> Result<()> {
    let mut wanted: Vec<(usize, usize, String)> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        for (j, part) in parts(message).iter().enumerate() {
            if let ContentPart::ImageUrl { image_url, .. } = part {
                let url = image_url.url.trim();
                if url.starts_with("https://") || url.starts_with("http://") {
                    wanted.push((i, j, url.to_owned()));
                }
            }
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    if wanted.len() > MAX_REMOTE_IMAGES {
        return Err(GatewayError::invalid_param(
            "messages",
            format!("at most {MAX_REMOTE_IMAGES} images may be given by URL in one request"),
        ));
    }
    let downloads = wanted.iter().map(|(i, j, url)| {
        let at = format!("messages[{i}].content[{j}].image_url.url");
        async move { fetch_image(platform, settings, url, &at).await }
    });
    let results = futures_util::future::join_all(downloads).await;
    for ((i, j, _), result) in wanted.into_iter().zip(results) {
        let data_url = result?;
        if let Some(ContentPart::ImageUrl { image_url, .. }) =
            parts_mut(&mut messages[i]).get_mut(j)
        {
            image_url.url = data_url;
        }
    }
    Ok(())
}

fn parts(message: &ChatMessage) -> &[ContentPart] {
    match message {
        ChatMessage::User {
            content: MessageContent::Parts(p),
        }
        | ChatMessage::Tool {
            content: MessageContent::Parts(p),
            ..
        }
        | ChatMessage::Assistant {
            content: Some(MessageContent::Parts(p)),
            ..
        } => p,
        _ => &[],
    }
}

fn parts_mut(message: &mut ChatMessage) -> &mut [ContentPart] {
    match message {
        ChatMessage::User {
            content: MessageContent::Parts(p),
        }
        | ChatMessage::Tool {
            content: MessageContent::Parts(p),
            ..
        }
        | ChatMessage::Assistant {
            content: Some(MessageContent::Parts(p)),
            ..
        } => p,
        _ => &mut [],
    }
}

/// Image formats by magic bytes.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]) {
        Some("png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("gif")
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some("webp")
    } else {
        None
    }
}

const ACCEPTED_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/jpg",
    "image/gif",
    "image/webp",
];

async fn fetch_image<P: Platform>(
    platform: &P,
    settings: &Settings,
    url: &str,
    at: &str,
) -> Result<String> {
    let bad = |why: String| GatewayError::invalid_param(at, format!("image {url}: {why}"));
    let uri: http::Uri = url.parse().map_err(|_| bad("not a valid URL".to_owned()))?;
    let authority = uri
        .authority()
        .ok_or_else(|| bad("the URL has no host".to_owned()))?;
    if authority.as_str().contains('@') {
        return Err(bad("URLs with credentials are not fetched".to_owned()));
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let trusted = || {
        let scheme = uri.scheme_str().unwrap_or("https");
        BaseUrl::custom(&format!("{scheme}://{authority}"))
            .is_ok_and(|base| settings.is_trusted_host(&base))
    };
    if host.is_empty() || (is_internal_host(host) && !trusted()) {
        return Err(bad(
            "private, loopback and metadata addresses are not fetched".to_owned(),
        ));
    }
    let req = UpstreamRequest {
        method: "GET",
        url: url.to_owned(),
        headers: vec![(
            "accept".into(),
            "image/png,image/jpeg,image/gif,image/webp".into(),
        )],
        body: bytes::Bytes::new(),
    };
    let resp = platform
        .fetch(req)
        .await
        .map_err(|e| bad(format!("could not be fetched ({e})")))?;
    if !(200..300).contains(&resp.status) {
        return Err(bad(format!(
            "could not be fetched: the server answered HTTP {}",
            resp.status
        )));
    }
    let content_type = resp
        .header("content-type")
        .map(|c| c.split(';').next().unwrap_or(c).trim().to_ascii_lowercase());
    if let Some(ct) = content_type.as_deref() {
        if ct.starts_with("image/") && !ACCEPTED_TYPES.contains(&ct) {
            return Err(bad(format!(
                "type `{ct}` is not supported; use png, jpeg, gif or webp"
            )));
        }
    }
    let too_big = || {
        bad(format!(
            "larger than {MAX_IMAGE_BYTES} bytes, Bedrock's limit for an image"
        ))
    };
    if resp
        .header("content-length")
        .and_then(|l| l.trim().parse::<usize>().ok())
        .is_some_and(|l| l > MAX_IMAGE_BYTES)
    {
        return Err(too_big());
    }
    let mut body = resp.body;
    let mut bytes = Vec::new();
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(|e| bad(format!("the download failed ({e})")))?;
        if bytes.len() + piece.len() > MAX_IMAGE_BYTES {
            return Err(too_big());
        }
        bytes.extend_from_slice(&piece);
    }
    let format = sniff(&bytes).ok_or_else(|| {
        bad(format!(
            "not a png, jpeg, gif or webp image (content type `{}`)",
            content_type.as_deref().unwrap_or("none")
        ))
    })?;
    Ok(format!(
        "data:image/{format};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&bytes)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_four_formats() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some("png"));
        assert_eq!(sniff(&[0xff, 0xd8, 0xff, 0xe0]), Some("jpeg"));
        assert_eq!(sniff(b"GIF89a..."), Some("gif"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("webp"));
        assert_eq!(sniff(b"<html>"), None);
    }
}
