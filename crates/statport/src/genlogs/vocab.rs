//! What the generated traffic is made of: domains, URLs, clients, edges, user agents, built once
//! per seed, with skewed popularity.

use super::rng::{Rng, Zipf};

/// The first domains, most popular first; more are made up as `cdnN.example.net`.
const HOSTS: &[&str] = &[
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
];

/// CloudFront edge locations, busiest first.
const EDGES: &[&str] = &[
    "SFO5-C1", "IAD89-C3", "FRA2-C1", "NRT57-P2", "LHR61-P4", "HKG60-C1", "SIN2-P1", "CDG52-C2",
    "AMS58-P3", "ICN57-P1", "DFW56-P1", "SEA19-C3", "GRU3-C1", "SYD62-P1", "BOM78-P1",
];

/// User agents as the viewer sent them (decoded). One carries a literal `%20` (iOS apps send
/// their name percent-encoded), which CloudFront logs as `%2520`.
const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "MyShop%20App/4.2.1 CFNetwork/1496.0.7 Darwin/23.5.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Dalvik/2.1.0 (Linux; U; Android 13; SM-S911B Build/TP1A.220624.014)",
    "AppleCoreMedia/1.0.0.21E236 (iPhone; U; CPU OS 17_4 like Mac OS X; en_us)",
    "okhttp/4.12.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl/8.5.0",
    "Mozilla/5.0 (Linux; Android 12; 小米 12 Build/SKQ1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "python-requests/2.31.0",
    "Wget/1.21.4",
    "Amazon CloudFront",
];

/// Search and social referers for pages (decoded).
const REFERERS: &[&str] = &[
    "https://www.google.com/",
    "https://www.google.com/search?q=summer sale shoes",
    "https://www.bing.com/search?q=blue+jacket&form=QBLH",
    "https://t.co/Ab3xK9QzPq",
    "https://www.facebook.com/",
    "https://duckduckgo.com/?q=café crème",
    "android-app://com.google.android.gm/",
];

const WORDS: &[&str] = &[
    "summer", "sale", "red", "shoes", "blue", "jacket", "coffee", "mug", "garden", "lamp",
    "winter", "boots", "desk", "chair", "travel", "bag", "linen", "shirt", "kids", "toys",
];

/// Paths that need URL encoding (spaces, non-ASCII, `&`, `=`, `%`, a literal `%20`).
const ODD_PATHS: &[(&str, Kind)] = &[
    ("/files/annual report 2024.pdf", Kind::Download),
    ("/files/Q3 résumé (final).docx", Kind::Download),
    ("/文档/使用说明.pdf", Kind::Download),
    ("/music/Beyoncé - Halo.mp3", Kind::Download),
    ("/catalog/a&b=c/index.html", Kind::Page),
    ("/products/100% cotton shirt", Kind::Page),
    ("/downloads/my%20file.zip", Kind::Download),
    ("/images/Æble & pære.jpg", Kind::Image),
];

/// What an URL serves; decides sizes, queries and content types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An HTML page.
    Page,
    /// An image (jpg, png, webp): small, many per page.
    Image,
    /// A style sheet or script.
    Asset,
    /// A video segment or playlist.
    Video,
    /// A large file.
    Download,
    /// A JSON API call.
    Api,
}

impl Kind {
    /// `sc-content-type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Kind::Page => "text/html",
            Kind::Image => "image/jpeg",
            Kind::Asset => "application/javascript",
            Kind::Video => "video/MP2T",
            Kind::Download => "application/octet-stream",
            Kind::Api => "application/json",
        }
    }

    /// Bytes of a full `200` response: log-uniform over the kind's usual range.
    pub fn size(self, rng: &mut Rng) -> u64 {
        match self {
            Kind::Page => rng.log_size(11, 17),     // 2 KB .. 256 KB
            Kind::Image => rng.log_size(10, 19),    // 1 KB .. 1 MB
            Kind::Asset => rng.log_size(10, 18),    // 1 KB .. 512 KB
            Kind::Video => rng.log_size(18, 22),    // 256 KB .. 8 MB
            Kind::Download => rng.log_size(16, 25), // 64 KB .. 64 MB
            Kind::Api => rng.log_size(8, 14),       // 256 B .. 32 KB
        }
    }
}

/// One URL: its decoded path and what it serves.
#[derive(Debug, Clone)]
pub struct Url {
    /// The path as the client meant it (percent-decoded).
    pub path: String,
    /// What it serves.
    pub kind: Kind,
}

/// A returning viewer: the same address, browser and nearest edge every time.
#[derive(Debug, Clone)]
pub struct Client {
    /// `c-ip`.
    pub ip: String,
    /// Decoded user agent.
    pub user_agent: &'static str,
    /// `x-edge-location`.
    pub edge: &'static str,
}

/// Everything the traffic is drawn from, built once per seed.
#[derive(Debug, Clone)]
pub struct Vocab {
    /// Domains, most popular first.
    pub hosts: Vec<String>,
    /// Popularity of `hosts`.
    pub host_pick: Zipf,
    /// URLs in popularity order.
    pub urls: Vec<Url>,
    /// Popularity of `urls`.
    pub url_pick: Zipf,
    /// Viewers in activity order.
    pub clients: Vec<Client>,
    /// Activity of `clients`.
    pub client_pick: Zipf,
    /// The distribution's own domain (`cs(Host)`), e.g. `d1abc….cloudfront.net`.
    pub cloudfront_domain: String,
}

const URLS: usize = 4000;
const CLIENTS: usize = 3000;

impl Vocab {
    /// The vocabulary for a seed and a number of domains (at least one).
    pub fn new(seed: u64, hosts: u32) -> Self {
        let mut rng = Rng::fork(seed, u64::MAX);
        let hosts: Vec<String> = (0..hosts.max(1) as usize)
            .map(|i| match HOSTS.get(i) {
                Some(h) => (*h).to_string(),
                None => format!("cdn{}.example.net", i + 1),
            })
            .collect();
        let urls: Vec<Url> = (0..URLS).map(|i| url(&mut rng, i)).collect();
        let edge_pick = Zipf::new(EDGES.len());
        let ua_pick = Zipf::new(USER_AGENTS.len());
        let clients = (0..CLIENTS)
            .map(|_| Client {
                ip: ip(&mut rng),
                user_agent: USER_AGENTS[ua_pick.sample(&mut rng)],
                edge: EDGES[edge_pick.sample(&mut rng)],
            })
            .collect();
        let alnum = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let id: String = (0..13).map(|_| char::from(*rng.pick(alnum))).collect();
        Vocab {
            host_pick: Zipf::new(hosts.len()),
            hosts,
            url_pick: Zipf::new(urls.len()),
            urls,
            client_pick: Zipf::new(CLIENTS),
            clients,
            cloudfront_domain: format!("d{id}.cloudfront.net"),
        }
    }
}

/// A search or social referer.
pub fn search_referer(rng: &mut Rng) -> &'static str {
    let referer: &&'static str = rng.pick(REFERERS);
    referer
}

/// The `i`-th URL of the catalog (random kind and shape; a few odd ones spread through it).
fn url(rng: &mut Rng, i: usize) -> Url {
    if i % 97 == 13 {
        let (path, kind) = ODD_PATHS[(i / 97) % ODD_PATHS.len()];
        return Url {
            path: path.to_string(),
            kind,
        };
    }
    let w = |rng: &mut Rng| *rng.pick(WORDS);
    let n = rng.below(100_000);
    let kind = *rng.weighted(&[
        (25, Kind::Image),
        (20, Kind::Page),
        (15, Kind::Asset),
        (20, Kind::Video),
        (8, Kind::Download),
        (12, Kind::Api),
    ]);
    let path = match kind {
        Kind::Page if i == 0 => "/".to_string(),
        Kind::Page if rng.chance(300) => {
            format!("/blog/2026/{:02}/{}-{}.html", n % 12 + 1, w(rng), w(rng))
        }
        Kind::Page => format!("/products/{}-{}-{n}", w(rng), w(rng)),
        Kind::Image if rng.chance(500) => format!("/images/products/{n}.jpg"),
        Kind::Image => format!(
            "/img/{}/{}-{}x{}.webp",
            w(rng),
            w(rng),
            160 << (n % 4),
            120 << (n % 4)
        ),
        Kind::Asset if rng.chance(500) => {
            format!("/static/js/app.{:08x}.js", rng.next_u64() as u32)
        }
        Kind::Asset => format!("/static/css/{}.{:08x}.css", w(rng), rng.next_u64() as u32),
        Kind::Video if rng.chance(100) => format!("/video/{}/master.m3u8", n % 500),
        Kind::Video => format!("/video/{}/hls/seg-{:05}.ts", n % 500, n % 1800),
        Kind::Download => format!("/downloads/app-{}.{}.{}.apk", n % 5 + 1, n % 10, n % 7),
        Kind::Api => format!("/api/v1/items/{n}"),
    };
    Url { path, kind }
}

/// The first octets of the generated IPv4 clients (the other three are random): `statport
/// gen-ipdb` places each of these /8 networks.
pub const IPV4_FIRST_OCTETS: &[u8] = &[
    23, 31, 45, 52, 54, 66, 73, 81, 89, 91, 101, 112, 121, 151, 176, 185, 203,
];

/// The /32 networks of the generated IPv6 clients (the rest is random): `statport gen-ipdb`
/// places each of them.
pub const IPV6_PREFIXES: &[&str] = &["2001:db8", "2600:1f18", "2a02:26f0", "2406:da14"];

/// A public-looking IPv4 (85%) or IPv6 (15%) address.
fn ip(rng: &mut Rng) -> String {
    if rng.chance(150) {
        let prefix = rng.pick(IPV6_PREFIXES);
        format!(
            "{prefix}:{:x}:{:x}::{:x}",
            rng.below(0x10000),
            rng.below(0x10000),
            rng.range(1, 0xffff)
        )
    } else {
        let first = *rng.pick(IPV4_FIRST_OCTETS);
        format!(
            "{first}.{}.{}.{}",
            rng.below(256),
            rng.below(256),
            rng.range(1, 254)
        )
    }
}
