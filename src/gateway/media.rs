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

const MAX_REDIRECTS: usize = 3;

/// A URL the Worker may download: http(s), a host, no credentials, and not an internal address
/// unless the operator trusts it.
fn check_image_host(settings: &Settings, url: &str) -> std::result::Result<(), String> {
    let uri: http::Uri = url.parse().map_err(|_| "not a valid URL".to_owned())?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err("only http(s) URLs are fetched".to_owned());
    }
    let authority = uri
        .authority()
        .ok_or_else(|| "the URL has no host".to_owned())?;
    if authority.as_str().contains('@') {
        return Err("URLs with credentials are not fetched".to_owned());
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let scheme = uri.scheme_str().unwrap_or("https");
    let trusted = BaseUrl::custom(&format!("{scheme}://{authority}"))
        .is_ok_and(|base| settings.is_trusted_host(&base));
    if host.is_empty() || (is_internal_host(host) && !trusted) {
        return Err("private, loopback and metadata addresses are not fetched".to_owned());
    }
    Ok(())
}

/// A redirect's `Location`, absolute or relative to the URL that answered it.
fn resolve_location(base: &str, location: &str) -> std::result::Result<String, String> {
    let location = location.trim();
    if location.starts_with("http://") || location.starts_with("https://") {
        return Ok(location.to_owned());
    }
    let uri: http::Uri = base.parse().map_err(|_| "not a valid URL".to_owned())?;
    let origin = format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("https"),
        uri.authority().map(|a| a.as_str()).unwrap_or_default()
    );
    if let Some(rest) = location.strip_prefix("//") {
        return Ok(format!("{}://{rest}", uri.scheme_str().unwrap_or("https")));
    }
    if location.starts_with('/') {
        return Ok(format!("{origin}{location}"));
    }
    Err(format!("redirects to an unsupported location `{location}`"))
}

async fn fetch_image<P: Platform>(
    platform: &P,
    settings: &Settings,
    url: &str,
    at: &str,
) -> Result<String> {
    let bad = |why: String| GatewayError::invalid_param(at, format!("image {url}: {why}"));
    // Redirects are followed here, not by the runtime (the shell fetches with redirect: manual),
    // so every hop's host is checked against internal addresses.
    let mut current = url.to_owned();
    let mut hops = 0;
    let resp = loop {
        check_image_host(settings, &current).map_err(bad)?;
        let req = UpstreamRequest {
            method: "GET",
            url: current.clone(),
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
        let location = resp.header("location").map(str::to_owned);
        match (resp.status, location) {
            (301 | 302 | 303 | 307 | 308, Some(next)) if hops < MAX_REDIRECTS => {
                current = resolve_location(&current, &next).map_err(bad)?;
                hops += 1;
            }
            (300..=399, _) => {
                return Err(bad(format!(
                    "redirects more than {MAX_REDIRECTS} times or without a Location"
                )))
            }
            (status, _) if !(200..300).contains(&status) => {
                return Err(bad(format!(
                    "could not be fetched: the server answered HTTP {status}"
                )))
            }
            _ => break resp,
        }
    };
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
