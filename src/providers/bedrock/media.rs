//! Images given by `https://` URL: Bedrock only takes bytes or S3, so the Worker downloads them
//! and inlines them as `data:` URLs before the (pure) mapping runs. The reference gateway fails
//! these with a 500; here every failure is a 400 naming the part.
//!
//! Limits (`crate::limits`): MAX_IMAGE_BYTES per image (Bedrock's own image limit),
//! MAX_REMOTE_IMAGE_TOTAL_BYTES for all of a request's images together, png / jpeg / gif / webp
//! only (the bytes are sniffed, not just the content type believed), at most MAX_REMOTE_IMAGES
//! downloads per request, no private, loopback, metadata or other special-purpose addresses (the
//! Worker must not be a way into them) unless the operator listed the exact scheme, host and port
//! in TRUSTED_CUSTOM_HOSTS. Redirects are followed here, at most MAX_IMAGE_REDIRECTS, and every
//! hop is checked. Downloads are unsigned and run concurrently.

use base64::Engine;
use futures_util::StreamExt;

use crate::api::openai::{ChatMessage, ContentPart, MessageContent};
use crate::error::{GatewayError, Result};
use crate::limits::{
    MAX_IMAGE_BYTES, MAX_IMAGE_REDIRECTS, MAX_REMOTE_IMAGES, MAX_REMOTE_IMAGE_TOTAL_BYTES,
};
use crate::net;
use crate::platform::{Platform, UpstreamRequest};
use crate::settings::Settings;

/// Images already downloaded for this request (URL → `data:` URL), so a config's later attempts
/// do not download them again, whatever messages their overrides give.
pub type Downloaded = std::collections::HashMap<String, String>;

/// Replaces every `http(s)://` `image_url` in `messages` with a `data:` URL of its bytes.
pub async fn inline_remote_images<P: Platform>(
    platform: &P,
    settings: &Settings,
    messages: &mut [ChatMessage],
    downloaded: &mut Downloaded,
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
    // Bytes downloaded so far by all of this request's images (those of earlier attempts
    // included); the download that crosses the total cap fails, and the first failure stops the
    // others.
    let total = std::cell::Cell::new(downloaded.values().map(String::len).sum::<usize>());
    let downloads = wanted
        .iter()
        .filter(|(_, _, url)| !downloaded.contains_key(url))
        .map(|(i, j, url)| {
            let at = format!("messages[{i}].content[{j}].image_url.url");
            let total = &total;
            async move {
                let data_url = fetch_image(platform, settings, url, &at, total).await?;
                Ok::<_, GatewayError>((url.clone(), data_url))
            }
        });
    for (url, data_url) in futures_util::future::try_join_all(downloads).await? {
        downloaded.insert(url, data_url);
    }
    for (i, j, url) in wanted {
        let Some(data_url) = downloaded.get(&url).cloned() else {
            continue;
        };
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

/// A URL the Worker may download: http(s), a host, no credentials, and not an internal address
/// unless the operator trusts its scheme, host and port.
fn check_image_host(settings: &Settings, url: &url::Url) -> std::result::Result<(), String> {
    net::check_http_url(url).map_err(|e| e.to_string())?;
    if net::is_internal_url(url) && !settings.is_trusted_host(url) {
        return Err(
            "private, loopback and metadata addresses (and other special-purpose ones) are not fetched"
                .to_owned(),
        );
    }
    Ok(())
}

/// A redirect's `Location`, resolved against the URL that answered it as `fetch` would; the
/// result is checked like the first URL before it is fetched.
fn resolve_location(base: &url::Url, location: &str) -> std::result::Result<url::Url, String> {
    base.join(location.trim())
        .map_err(|_| "redirects to a location that is not a valid URL".to_owned())
}

async fn fetch_image<P: Platform>(
    platform: &P,
    settings: &Settings,
    url: &str,
    at: &str,
    total: &std::cell::Cell<usize>,
) -> Result<String> {
    // The URL is not repeated: the part is named by `at`, and the URL may hold credentials.
    let bad = |why: String| GatewayError::invalid_param(at, format!("image URL: {why}"));
    // Redirects are followed here, not by the runtime (the shell fetches with redirect: manual),
    // so every hop's host is checked against internal addresses. What is fetched is the
    // canonical URL that was checked.
    let mut current = net::parse_http_url(url).map_err(|e| bad(e.to_string()))?;
    let mut hops = 0;
    let resp = loop {
        check_image_host(settings, &current).map_err(bad)?;
        let req = UpstreamRequest {
            method: "GET",
            url: current.as_str().to_owned(),
            headers: vec![(
                "accept".into(),
                "image/png,image/jpeg,image/gif,image/webp".into(),
            )],
            body: bytes::Bytes::new(),
        };
        let (timeout, idle) = crate::providers::options::side_call();
        let resp = crate::providers::options::send(platform, req, timeout, idle, "the image host")
            .await?
            .map_err(|e| bad(format!("could not be fetched ({e})")))?;
        let location = resp.header("location").map(str::to_owned);
        match (resp.status, location) {
            (301 | 302 | 303 | 307 | 308, Some(next)) if hops < MAX_IMAGE_REDIRECTS => {
                current = resolve_location(&current, &next).map_err(bad)?;
                hops += 1;
            }
            (300..=399, _) => {
                return Err(bad(format!(
                    "redirects more than {MAX_IMAGE_REDIRECTS} times or without a Location"
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
    let too_much_in_total = || {
        bad(format!(
            "the images given by URL in this request are larger than {MAX_REMOTE_IMAGE_TOTAL_BYTES} bytes together"
        ))
    };
    let announced = resp
        .header("content-length")
        .and_then(|l| l.trim().parse::<usize>().ok());
    if announced.is_some_and(|l| l > MAX_IMAGE_BYTES) {
        return Err(too_big());
    }
    if announced.is_some_and(|l| total.get().saturating_add(l) > MAX_REMOTE_IMAGE_TOTAL_BYTES) {
        return Err(too_much_in_total());
    }
    let mut body = resp.body.into_stream();
    let mut bytes = Vec::new();
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(|e| bad(format!("the download failed ({e})")))?;
        if bytes.len().saturating_add(piece.len()) > MAX_IMAGE_BYTES {
            return Err(too_big());
        }
        let so_far = total.get().saturating_add(piece.len());
        if so_far > MAX_REMOTE_IMAGE_TOTAL_BYTES {
            return Err(too_much_in_total());
        }
        total.set(so_far);
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
