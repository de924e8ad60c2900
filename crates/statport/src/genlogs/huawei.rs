//! One request written as a Huawei CDN log line (or as a garbage line a parser must skip), and
//! the Huawei file name of an hour, a domain and a service area.
//!
//! Lines: `[DD/Mon/YYYY:HH:MM:SS +0800] ip ttlb "referer" "HTTP/x" "METHOD" "domain" "path?query"
//! status bytes CACHE "user agent" "range"`. Most lines are in Beijing time (`+0800`), some in
//! `+0000` and `-0500`, so the zone of each line matters. An `https` request is logged with its
//! full `https://domain/path` URL half of the time (the only way a Huawei line says https), an
//! `http` one with `http://…` one time in twenty; every other line counts as http. Path, query
//! and referer are URL-encoded as CloudFront's are; the user agent is logged as sent (spaces
//! and all) but for a literal `%`, written `%25` so that it reads back exactly (the Huawei
//! documentation does not say how a `%` in a user agent is logged, and statport decodes `%XX`
//! in every format).

use statport_core::log::ServiceArea;
use statport_core::time::{civil_from_days, DAY_MS, HOUR_MS};

use super::line::{encode, Request};
use super::rng::Rng;

/// The offset of the zone a line is written in, in minutes, with its `±hhmm` form.
const ZONES: [(u64, (i64, &str)); 3] = [
    (900, (480, "+0800")),
    (50, (0, "+0000")),
    (50, (-300, "-0500")),
];

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `YYYYMMDDHH-<domain>-<cn|ov>.gz`, the hour in Beijing time.
pub fn file_name(hour_ms: i64, domain: &str, area: ServiceArea) -> String {
    let beijing = hour_ms + 8 * HOUR_MS;
    let (y, m, d) = civil_from_days(beijing.div_euclid(DAY_MS));
    let h = beijing.rem_euclid(DAY_MS) / HOUR_MS;
    let area = match area {
        ServiceArea::OutsideMainlandChina => "ov",
        _ => "cn",
    };
    format!("{y:04}{m:02}{d:02}{h:02}-{domain}-{area}.gz")
}

/// The domain the line logs (an odd letter case now and then, as the viewer wrote it).
fn domain_field(req: &Request) -> &str {
    match req.x_host_header.as_str() {
        "-" => &req.record.host,
        x => x,
    }
}

/// The fields of `req`'s line, quoted as Huawei quotes them. Sets `req.record.https` to what
/// the line says (a full `https://` URL).
fn fields(rng: &mut Rng, req: &mut Request) -> Vec<Vec<u8>> {
    let r = &req.record;
    let (offset_min, zone) = *rng.weighted(&ZONES);
    let local = r.timestamp_ms + offset_min * 60_000;
    let (y, mo, d) = civil_from_days(local.div_euclid(DAY_MS));
    let tod = local.rem_euclid(DAY_MS) / 1000;
    let month = MONTHS[(mo as usize).saturating_sub(1) % 12];
    let https = matches!(req.protocol, "https" | "wss");
    let full_url = if https {
        rng.chance(500)
    } else {
        rng.chance(50)
    };
    let mut url = if full_url {
        format!("{}://{}", if https { "https" } else { "http" }, r.host)
    } else {
        String::new()
    };
    url.push_str(&encode(&r.path, b""));
    if let Some(q) = &r.query {
        url.push('?');
        url.push_str(&encode(q, b"&="));
    }
    if url.is_empty() {
        url.push('-');
    }
    let version = if https {
        *rng.weighted(&[(60, "HTTP/2.0"), (40, "HTTP/1.1")])
    } else {
        "HTTP/1.1"
    };
    let cache = match req.result_type {
        "Miss" => "MISS",
        "Error" => "-",
        _ => "HIT",
    };
    let range = if r.status == 206 {
        format!("bytes={}-", rng.below(1 << 20))
    } else {
        "-".to_string()
    };
    let quoted = |s: &str| format!("\"{s}\"");
    let f = vec![
        format!(
            "[{d:02}/{month}/{y:04}:{:02}:{:02}:{:02} {zone}]",
            tod / 3600,
            tod / 60 % 60,
            tod % 60
        ),
        r.client_ip.clone(),
        rng.log_size(0, 12).to_string(),
        quoted(
            &r.referer
                .as_deref()
                .map_or("-".to_string(), |v| encode(v, b"?&=")),
        ),
        quoted(version),
        quoted(&r.method),
        quoted(domain_field(req)),
        quoted(&url),
        format!("{:03}", r.status),
        r.bytes.to_string(),
        cache.to_string(),
        quoted(&r.user_agent.replace('%', "%25")),
        quoted(&range),
    ];
    req.record.https = full_url && https;
    f.into_iter().map(String::into_bytes).collect()
}

/// Appends `req` as one Huawei line (without the newline); `req.record` becomes what a parser
/// must return for it.
pub fn write_line(out: &mut Vec<u8>, rng: &mut Rng, req: &mut Request) {
    join(out, &fields(rng, req));
}

/// Appends a garbage line made from `req` (without the newline): one of the ways a line goes
/// wrong, each of which a parser must skip and count.
pub fn write_garbage(out: &mut Vec<u8>, rng: &mut Rng, req: &mut Request) {
    let mut f = fields(rng, req);
    match rng.below(6) {
        0 => {
            // Cut off mid-line: too few fields.
            let keep = rng.range(1, 8) as usize;
            f.truncate(keep);
        }
        1 => f[9] = format!("{}k", req.record.bytes / 1024).into_bytes(),
        2 => f[0] = b"[45/Foo/2026:25:61:07 +0800]".to_vec(),
        3 => f[7] = b"\"/never/closed".to_vec(),
        4 => f[11] = b"\"Mozilla/5.0 (\xff\xfe)\"".to_vec(),
        _ => f[6] = b"\"-\"".to_vec(),
    }
    join(out, &f);
}

fn join(out: &mut Vec<u8>, fields: &[Vec<u8>]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(f);
    }
}

#[cfg(test)]
mod tests {
    use statport_core::time::ms_from_civil;

    use super::*;

    #[test]
    fn names_use_the_beijing_hour() {
        let hour = ms_from_civil(2026, 11, 23, 16, 0, 0).expect("date");
        assert_eq!(
            file_name(hour, "www.example.com", ServiceArea::MainlandChina),
            "2026112400-www.example.com-cn.gz"
        );
        assert_eq!(
            file_name(hour, "a.example.com", ServiceArea::OutsideMainlandChina),
            "2026112400-a.example.com-ov.gz"
        );
    }
}
