//! Sample-log vocabulary shared by the criterion benches of `statport-core` and
//! `statport-worker` (included with `#[path]`): a deterministic PRNG, domains, user agents,
//! paths and edges, and CloudFront's URL encoding. Not a bench target itself (cargo only
//! discovers `benches/*.rs`).

#![allow(dead_code)]

use statport_core::log::format::cloudfront::{FIELDS_26, FIELDS_33};
use statport_core::time::ms_from_civil;

/// SplitMix64: a tiny deterministic PRNG, so every run benchmarks the same input.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `per_mille / 1000`.
    pub(crate) fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    /// Any element.
    pub(crate) fn pick<'s, T>(&mut self, items: &'s [T]) -> &'s T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// An element, the first ones far more often than the last (the smaller of two draws).
    pub(crate) fn skewed<'s, T>(&mut self, items: &'s [T]) -> &'s T {
        let n = items.len() as u64;
        &items[self.below(n).min(self.below(n)) as usize]
    }
}

/// Domains, most popular first.
pub(crate) const HOSTS: &[&str] = &[
    "www.example.com",
    "img.example.com",
    "static.example.com",
    "cdn3.shop.example.net",
    "video.example.org",
    "api.example.com",
    "m.example.com",
    "assets.shop.example.net",
    "downloads.example.org",
    "media.example.net",
    "blog.example.com",
    "news.example.org",
    "fonts.example.com",
    "img2.shop.example.net",
    "live.example.net",
    "dl.example.com",
    "static.news.example.org",
    "beta.example.com",
    "files.example.org",
    "cdn1.example.org",
    "cdn2.example.net",
    "cdn4.example.net",
    "cdn5.example.net",
    "cdn6.example.net",
    "cdn7.example.net",
];

/// User agents as sent (decoded); one carries a literal `%20`, logged as `%2520`.
pub(crate) const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "MyShop%20App/4.2.1 CFNetwork/1496.0.7 Darwin/23.5.0",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Dalvik/2.1.0 (Linux; U; Android 13; SM-S911B Build/TP1A.220624.014)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (Linux; Android 12; 小米 12 Build/SKQ1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
    "okhttp/4.12.0",
    "curl/8.5.0",
];

/// Paths as requested (decoded); a few need URL encoding.
pub(crate) const PATHS: &[&str] = &[
    "/index.html",
    "/images/hero-1920.jpg",
    "/static/js/app.3f9a1c.js",
    "/static/css/site.c81e.css",
    "/video/intro/seg-00042.ts",
    "/api/v2/products",
    "/images/summer sale/banner.jpg",
    "/files/annual report 2024.pdf",
    "/文档/使用说明.pdf",
    "/fonts/inter-var.woff2",
    "/favicon.ico",
];

pub(crate) const EDGES: &[&str] = &[
    "SFO5-C1", "IAD89-C3", "FRA2-C1", "NRT57-P2", "LHR61-P4", "SIN2-P1", "CDG52-C2",
];

/// URL-encodes as CloudFront does in its logs: everything but a few safe ASCII characters
/// becomes `%XX` (spaces `%20`, a `%` itself `%25`).
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:;,()+!*'@$".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The day the sample logs cover, 2026-11-01 (UTC), in epoch ms.
pub(crate) fn day() -> i64 {
    ms_from_civil(2026, 11, 1, 0, 0, 0).expect("valid date")
}

/// The `#Version` and `#Fields` lines of a layout of 26 or 33 fields.
pub(crate) fn header(fields: usize) -> [String; 2] {
    let names: &[&str] = if fields == 26 { &FIELDS_26 } else { &FIELDS_33 };
    [
        "#Version: 1.0".to_string(),
        format!("#Fields: {}", names.join(" ")),
    ]
}

/// One realistic CloudFront data line of `fields` (26 or 33) tab-separated fields at second
/// `secs` of [`day`]: skewed hosts, paths and user agents (URL-encoded as CloudFront logs them),
/// IPv4 and IPv6 clients, hits and misses, a few upper-case or missing `x-host-header`s.
pub(crate) fn data_line(rng: &mut Rng, secs: u64, fields: usize) -> String {
    let host = *rng.skewed(HOSTS);
    let https = rng.chance(780);
    let miss = rng.chance(220);
    let status = *rng.pick(&["200", "200", "200", "200", "200", "304", "206", "404"]);
    let ip = if rng.chance(150) {
        format!("2001:db8:{:x}::{:x}", rng.below(65_536), rng.below(65_536))
    } else {
        format!(
            "{}.{}.{}.{}",
            rng.below(223) + 1,
            rng.below(256),
            rng.below(256),
            rng.below(256)
        )
    };
    let query = match rng.below(10) {
        0 => format!("w={}&q=80", 160 << rng.below(4)),
        1 => encode("utm_source=newsletter&utm_campaign=blue jacket"),
        _ => "-".to_string(),
    };
    let referer = if rng.chance(400) {
        encode(&format!("https://{host}/"))
    } else {
        "-".to_string()
    };
    let x_host_header = match rng.below(100) {
        0 => "-".to_string(),
        1 | 2 => host.to_ascii_uppercase(),
        _ => host.to_string(),
    };
    let request_id: String = (0..52)
        .map(|_| {
            char::from(
                *rng.pick(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"),
            )
        })
        .collect();
    let result = if miss { "Miss" } else { "Hit" };
    let bytes = 300 + (1u64 << rng.below(24)) + rng.below(1 << 10);
    let path = *rng.skewed(PATHS);
    let user_agent = *rng.skewed(USER_AGENTS);
    let mut f = vec![
        "2026-11-01".to_string(),
        format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60),
        rng.skewed(EDGES).to_string(),
        bytes.to_string(),
        ip,
        "GET".to_string(),
        "d1a2b3c4d5e6f7.cloudfront.net".to_string(),
        encode(path),
        status.to_string(),
        referer,
        encode(user_agent),
        query,
        "-".to_string(),
        result.to_string(),
        request_id,
        x_host_header,
        (if https { "https" } else { "http" }).to_string(),
        (100 + rng.below(400)).to_string(),
        format!("0.{:03}", rng.below(1000)),
        "-".to_string(),
        (if https { "TLSv1.3" } else { "-" }).to_string(),
        (if https { "TLS_AES_128_GCM_SHA256" } else { "-" }).to_string(),
        result.to_string(),
        "HTTP/2.0".to_string(),
        "-".to_string(),
        "-".to_string(),
    ];
    if fields == 33 {
        f.extend([
            (1024 + rng.below(60_000)).to_string(),
            format!("0.{:03}", rng.below(1000)),
            result.to_string(),
            "image/jpeg".to_string(),
            bytes.saturating_sub(300).to_string(),
            "-".to_string(),
            "-".to_string(),
        ]);
    }
    f.join("\t")
}
