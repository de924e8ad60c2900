//! One request: drawing it from the vocabulary, and writing it as a CloudFront log line (or as a
//! garbage line that a parser must skip).

use statport_core::log::format::cloudfront::{FIELDS_26, FIELDS_33};
use statport_core::time::{civil_from_days, DAY_MS};

use super::rng::Rng;
use super::vocab::{search_referer, Kind, Vocab};
use super::GeneratedRecord;

/// Which standard column list a file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The older 26 columns.
    Fields26,
    /// The current 33 columns.
    Fields33,
}

impl Layout {
    /// The other layout.
    pub fn other(self) -> Layout {
        match self {
            Layout::Fields26 => Layout::Fields33,
            Layout::Fields33 => Layout::Fields26,
        }
    }

    /// `#Version` and `#Fields` lines, each ending in `\n`.
    pub fn header(self) -> String {
        let names: &[&str] = match self {
            Layout::Fields26 => &FIELDS_26,
            Layout::Fields33 => &FIELDS_33,
        };
        format!("#Version: 1.0\n#Fields: {}\n", names.join(" "))
    }
}

// Positions shared by both standard layouts.
const DATE: usize = 0;
const TIME: usize = 1;
const SC_BYTES: usize = 3;
const CS_HOST: usize = 6;
const USER_AGENT: usize = 10;
const X_HOST_HEADER: usize = 15;
const PROTOCOL: usize = 16;

/// A drawn request: what the parser must return, plus what only the log line shows.
#[derive(Debug, Clone)]
pub struct Request {
    /// The decoded values.
    pub record: GeneratedRecord,
    /// `cs-protocol`: `http`, `https`, `ws` or `wss`.
    pub(super) protocol: &'static str,
    /// `x-edge-result-type`: `Hit`, `RefreshHit`, `Miss` or `Error`.
    pub(super) result_type: &'static str,
    /// The domain as the viewer wrote it (odd case now and then), `-` for the distribution's own.
    pub(super) x_host_header: String,
    kind: Kind,
}

/// Draws one request served at `timestamp_ms`.
pub fn request(rng: &mut Rng, vocab: &Vocab, timestamp_ms: i64) -> Request {
    let client = &vocab.clients[vocab.client_pick.sample(rng)];
    let host_index = vocab.host_pick.sample(rng);
    let host = &vocab.hosts[host_index];
    // Each domain has its own most popular URLs.
    let url = &vocab.urls[(vocab.url_pick.sample(rng) + host_index * 37) % vocab.urls.len()];
    let kind = url.kind;

    let method = *rng.weighted(&[(950, "GET"), (30, "HEAD"), (15, "POST"), (5, "OPTIONS")]);
    let mut status = *rng.weighted(&[
        (850, 200u16),
        (40, 206),
        (60, 304),
        (30, 404),
        (5, 403),
        (8, 502),
        (4, 503),
        (3, 0), // the viewer went away: CloudFront logs `000`
    ]);
    if status == 206 && !matches!(kind, Kind::Video | Kind::Download) {
        status = 200;
    }
    let failed = status == 0 || status >= 400;
    let result_type = if failed {
        "Error"
    } else {
        *rng.weighted(&[(70, "Hit"), (8, "RefreshHit"), (22, "Miss")])
    };
    let headers = rng.range(250, 600);
    let bytes = if status == 0 {
        rng.below(headers)
    } else if failed {
        rng.range(350, 1200)
    } else if status == 304 || method != "GET" {
        headers
    } else if status == 206 {
        headers + rng.log_size(16, 21)
    } else {
        headers + kind.size(rng)
    };
    let protocol = *rng.weighted(&[(760, "https"), (200, "http"), (25, "wss"), (15, "ws")]);

    let word = |rng: &mut Rng| *rng.pick(&["shoes", "sale", "blue jacket", "café", "mug", "lamp"]);
    let query = match kind {
        Kind::Page if rng.chance(350) => Some(format!(
            "utm_source={}&utm_campaign={} {}",
            rng.pick(&["newsletter", "google", "facebook"]),
            word(rng),
            rng.range(2024, 2026)
        )),
        Kind::Image if rng.chance(250) => Some(format!("w={}&q=80", 160 << rng.below(4))),
        Kind::Asset if rng.chance(150) => Some(format!("v={}", rng.below(1000))),
        Kind::Video if rng.chance(400) => Some(format!(
            "token={:016x}&exp={}",
            rng.next_u64(),
            timestamp_ms / 1000 + 3600
        )),
        Kind::Download if rng.chance(50) => Some(format!("sig={:012x}", rng.below(1 << 48))),
        Kind::Api if rng.chance(900) => Some(match rng.below(3) {
            0 => format!("q={}&page={}", word(rng), rng.range(1, 20)),
            1 => format!("id={}&lang=fr-FR", rng.below(100_000)),
            _ => "q=100% wool".to_string(),
        }),
        _ => None,
    };
    let referer = match kind {
        Kind::Page if rng.chance(500) => Some(search_referer(rng).to_string()),
        Kind::Image | Kind::Asset if rng.chance(700) => Some(format!("https://{host}/")),
        Kind::Video if rng.chance(500) => Some(format!("https://{host}/watch/{}", rng.below(500))),
        Kind::Download | Kind::Api if rng.chance(200) => Some(format!("https://{host}/")),
        _ => None,
    };

    // Rarely the viewer used the distribution's own domain (no CNAME), or an odd letter case.
    let (x_host_header, record_host) = match rng.below(1000) {
        0..=9 => ("-".to_string(), vocab.cloudfront_domain.clone()),
        10..=29 => (host.to_ascii_uppercase(), host.clone()),
        _ => (host.clone(), host.clone()),
    };

    Request {
        record: GeneratedRecord {
            timestamp_ms,
            host: record_host,
            bytes,
            https: matches!(protocol, "https" | "wss"),
            origin_fetch: result_type == "Miss",
            client_ip: client.ip.clone(),
            edge_location: client.edge.to_string(),
            method: method.to_string(),
            path: url.path.clone(),
            query,
            status,
            referer,
            user_agent: client.user_agent.to_string(),
            service_area: None,
        },
        protocol,
        result_type,
        x_host_header,
        kind,
    }
}

/// The fields of `req`'s log line (before joining with tabs), with the log-only columns drawn
/// from `rng`.
fn fields(rng: &mut Rng, vocab: &Vocab, req: &Request, layout: Layout) -> Vec<Vec<u8>> {
    let r = &req.record;
    let secs = r.timestamp_ms.div_euclid(1000);
    let (y, mo, d) = civil_from_days(r.timestamp_ms.div_euclid(DAY_MS));
    let tod = secs.rem_euclid(86_400);
    let https = r.https;
    let opt = |v: &Option<String>, keep: &[u8]| match v {
        Some(v) => encode(v, keep),
        None => "-".to_string(),
    };
    let request_id: String = (0..52)
        .map(|_| {
            char::from(
                *rng.pick(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"),
            )
        })
        .collect();
    let time_taken = rng.log_size(0, 11);
    let tls = match (https, rng.chance(700)) {
        (false, _) => ("-", "-"),
        (true, true) => ("TLSv1.3", "TLS_AES_128_GCM_SHA256"),
        (true, false) => ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"),
    };
    let version = match req.protocol {
        "https" => *rng.weighted(&[(60, "HTTP/2.0"), (25, "HTTP/1.1"), (15, "HTTP/3.0")]),
        _ => "HTTP/1.1",
    };
    let mut f: Vec<String> = vec![
        format!("{y:04}-{mo:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", tod / 3600, tod / 60 % 60, tod % 60),
        r.edge_location.clone(),
        r.bytes.to_string(),
        r.client_ip.clone(),
        r.method.clone(),
        vocab.cloudfront_domain.clone(),
        encode(&r.path, b""),
        format!("{:03}", r.status),
        opt(&r.referer, b"?&="),
        encode(&r.user_agent, b""),
        opt(&r.query, b"&="),
        if rng.chance(100) {
            format!("session-id={:x}", rng.next_u64())
        } else {
            "-".to_string()
        },
        req.result_type.to_string(),
        format!("{request_id}=="),
        req.x_host_header.clone(),
        req.protocol.to_string(),
        rng.range(90, 900).to_string(),
        format!("{}.{:03}", time_taken / 1000, time_taken % 1000),
        if rng.chance(30) {
            "198.51.100.23".to_string()
        } else {
            "-".to_string()
        },
        tls.0.to_string(),
        tls.1.to_string(),
        req.result_type.to_string(),
        version.to_string(),
        "-".to_string(),
        "-".to_string(),
    ];
    if layout == Layout::Fields33 {
        let ranged = r.status == 206;
        let body = r.bytes.saturating_sub(300);
        f.extend([
            rng.range(1024, 65535).to_string(),
            format!("0.{:03}", rng.below(time_taken.min(999) + 1)),
            req.result_type.to_string(),
            if r.status == 200 || ranged {
                req.kind.content_type().to_string()
            } else {
                "-".to_string()
            },
            if r.status == 200 || ranged {
                body.to_string()
            } else {
                "-".to_string()
            },
            if ranged {
                "0".to_string()
            } else {
                "-".to_string()
            },
            if ranged {
                body.saturating_sub(1).to_string()
            } else {
                "-".to_string()
            },
        ]);
    }
    f.into_iter().map(String::into_bytes).collect()
}

/// Appends `req` as one log line (without the newline).
pub fn write_line(out: &mut Vec<u8>, rng: &mut Rng, vocab: &Vocab, req: &Request, layout: Layout) {
    join(out, &fields(rng, vocab, req, layout));
}

/// Appends a garbage line made from `req` (without the newline): one of the ways real files go
/// wrong, each of which a parser must skip and count.
pub fn write_garbage(
    out: &mut Vec<u8>,
    rng: &mut Rng,
    vocab: &Vocab,
    req: &Request,
    layout: Layout,
) {
    let mut f = fields(rng, vocab, req, layout);
    match rng.below(7) {
        0 => {
            // Cut off mid-field.
            let keep = rng.range(1, f.len() as u64 - 2) as usize;
            let partial = f[keep].len() / 2;
            f[keep].truncate(partial);
            f.truncate(keep + 1);
        }
        1 => f[SC_BYTES] = format!("{}k", req.record.bytes / 1024).into_bytes(),
        2 => f[DATE] = b"2026-13-45".to_vec(),
        3 => f[TIME] = b"25:61:07".to_vec(),
        4 => f[PROTOCOL] = b"gopher".to_vec(),
        5 => f[USER_AGENT] = b"Mozilla/5.0%20(\xff\xfe)".to_vec(),
        _ => {
            f[X_HOST_HEADER] = b"-".to_vec();
            f[CS_HOST] = b"-".to_vec();
        }
    }
    join(out, &f);
}

/// A line with no tabs at all (e.g. an error page that ended up in the log).
pub fn write_junk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"<html><body><h1>503 Service Unavailable</h1></body></html>");
}

fn join(out: &mut Vec<u8>, fields: &[Vec<u8>]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        out.extend_from_slice(f);
    }
}

/// URL-encodes `s` as CloudFront logs it: ASCII letters, digits and `-._~/:;,()+!*'@$` stay,
/// as do the bytes in `keep`; everything else (space, `%`, non-ASCII, …) becomes `%XX`.
pub fn encode(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:;,()+!*'@$".contains(&b) || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_cloudfront() {
        assert_eq!(encode("/a b/ü", b""), "/a%20b/%C3%BC");
        assert_eq!(
            encode("MyShop%20App/1 (x; y)", b""),
            "MyShop%2520App/1%20(x;%20y)"
        );
        assert_eq!(encode("a=1&b=2 3", b"&="), "a=1&b=2%203");
        assert_eq!(encode("a=1&b", b""), "a%3D1%26b");
    }
}
