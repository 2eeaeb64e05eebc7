//! `jobcast-bench`: single-threaded measurements of jobcast's own code paths, one JSON line
//! per run on stdout. `bench/run` interleaves these with their Python peers and writes
//! `docs/BENCHMARKS.md`; timing is done here, around the work only (no process start-up).
//!
//! ```text
//! jobcast-bench generate PAGES OUT.pdf OUT.txt      a PDF with known text, and that text
//! jobcast-bench extract IN.pdf OUT.txt              parse + extract every page (P1)
//! jobcast-bench split IN.pdf CHUNK_PAGES            split-once vs re-parse per chunk (P1)
//! jobcast-bench jwt HS256|RS256 ITERATIONS KEYDIR   verify one token N times (P2)
//! jobcast-bench hostile KIND OUT.pdf [N [M]]        one document of the hostile corpus (P8)
//! ```

use std::time::Instant;

use anyhow::{Context as _, bail};
use jobcast_shared::auth::{Algorithm, JwtSettings, PublicKey, TokenVerifier};
use jobcast_shared::pdf::{self, PdfLimits};
use serde_json::json;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).context("missing argument; see the module docs");
    match arg(0)? {
        "generate" => generate(arg(1)?.parse()?, arg(2)?, arg(3)?),
        "extract" => extract(arg(1)?, arg(2)?),
        "split" => split(arg(1)?, arg(2)?.parse()?),
        "jwt" => jwt(arg(1)?, arg(2)?.parse()?, arg(3)?),
        "hostile" => hostile(arg(1)?, arg(2)?, &args[3..]),
        other => bail!("unknown command {other}"),
    }
}

fn generate(pages: u32, pdf_out: &str, text_out: &str) -> anyhow::Result<()> {
    std::fs::write(pdf_out, pdf::generate(pages, pdf::sample_page_text))?;
    let text: Vec<String> = (1..=pages).map(pdf::sample_page_text).collect();
    std::fs::write(text_out, text.join("\n\u{c}"))?;
    Ok(())
}

/// Writes one document of the shared crate's hostile corpus, sized by the caller (P8 sizes
/// them from the stack's limits, the way the integration tests do).
fn hostile(kind: &str, out: &str, sizes: &[String]) -> anyhow::Result<()> {
    let size = |i: usize| -> anyhow::Result<usize> {
        let raw = sizes.get(i).with_context(|| format!("{kind} needs {} size argument(s)", i + 1))?;
        raw.parse().with_context(|| format!("{kind}: bad size {raw:?}"))
    };
    let pages = |i: usize| -> anyhow::Result<u32> { Ok(u32::try_from(size(i)?)?) };
    let bytes = match kind {
        "operator-flood" => pdf::generate::operator_flood(pages(0)?, size(1)?),
        "flate-bomb" => pdf::generate::flate_bomb(pages(0)?, size(1)?),
        "shared-image" => pdf::generate::shared_image(pages(0)?, size(1)?),
        "object-stream-flood" => pdf::generate::object_stream_flood(size(0)?, size(1)?),
        "deep-nesting" => pdf::generate::deep_nesting(size(0)?),
        "page-tree-loop" => pdf::generate::page_tree_loop(),
        "exactly" => pdf::generate::exactly(size(0)?, pages(1)?),
        // Pages of `M` words each: what the per-page and per-chunk text budgets are for.
        "text-flood" => {
            let words = size(1)?;
            pdf::generate(pages(0)?, |n| format!("{} {}", pdf::sample_page_text(n), "word ".repeat(words)))
        }
        other => bail!("unknown hostile kind {other}"),
    };
    std::fs::write(out, &bytes)?;
    println!("{}", json!({"kind": kind, "bytes": bytes.len()}));
    Ok(())
}

/// What a worker does with a chunk, on a whole document: parse, then every page's text.
fn extract(input: &str, text_out: &str) -> anyhow::Result<()> {
    let bytes = std::fs::read(input)?;
    let limits = PdfLimits { max_bytes: usize::MAX, max_pages: u32::MAX, ..PdfLimits::default() };
    let started = Instant::now();
    let outcome = pdf::extract_pages(&bytes, 1, &limits);
    let seconds = started.elapsed().as_secs_f64();
    let (pages, failed, text) = match outcome {
        Ok(pages) => {
            let failed = pages.iter().filter(|p| p.text.trim().is_empty()).count();
            let text: Vec<&str> = pages.iter().map(|p| p.text.as_str()).collect();
            (pages.len(), failed, text.join("\n\u{c}"))
        }
        Err(err) => {
            eprintln!("{input}: {err}");
            (0, 1, String::new())
        }
    };
    std::fs::write(text_out, text)?;
    println!("{}", json!({"seconds": seconds, "pages": pages, "failed_pages": failed, "peak_rss_kib": peak_rss_kib()}));
    Ok(())
}

/// `VmHWM`: this process's peak resident set since exec (the harness's fork does not count).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|l| {
                l.strip_prefix("VmHWM:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

/// Per-chunk cost of the planner's split-once design against re-parsing the whole document
/// for every chunk (what a worker would do if it were handed the original file).
fn split(input: &str, chunk_pages: u32) -> anyhow::Result<()> {
    let bytes = std::fs::read(input)?;
    let limits = PdfLimits { max_bytes: usize::MAX, max_pages: u32::MAX, ..PdfLimits::default() };

    let started = Instant::now();
    let analyzed = pdf::analyze(&bytes, &limits)?;
    let plan = pdf::plan_chunks(analyzed.page_count, chunk_pages);
    let parts = plan.iter().map(|chunk| analyzed.chunk_pdf(chunk, &limits)).collect::<Result<Vec<_>, _>>()?;
    let split_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for (chunk, part) in plan.iter().zip(&parts) {
        pdf::extract_pages(part, chunk.first_page, &limits)?;
    }
    let chunk_extract_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    for chunk in &plan {
        // Parse the whole document, then read only this chunk's pages.
        let whole = pdf::extract_pages_range(&bytes, chunk.first_page, chunk.last_page, &limits)?;
        assert_eq!(whole.len() as u32, chunk.last_page - chunk.first_page + 1);
    }
    let reparse_seconds = started.elapsed().as_secs_f64();

    let chunks = plan.len() as f64;
    println!(
        "{}",
        json!({
            "pages": analyzed.page_count,
            "chunks": plan.len(),
            "split_once_ms_per_chunk": (split_seconds + chunk_extract_seconds) * 1000.0 / chunks,
            "split_ms": split_seconds * 1000.0,
            "worker_ms_per_chunk": chunk_extract_seconds * 1000.0 / chunks,
            "reparse_ms_per_chunk": reparse_seconds * 1000.0 / chunks,
        })
    );
    Ok(())
}

/// Verifies one token `iterations` times with the key loaded once, as a warm function does.
fn jwt(alg: &str, iterations: u32, key_dir: &str) -> anyhow::Result<()> {
    let read = |name: &str| std::fs::read_to_string(format!("{key_dir}/{name}"));
    let mut settings = JwtSettings {
        secret_arn: None,
        public_key: None,
        jwks: None,
        issuer: Some("https://idp.bench".into()),
        audience: Some("jobcast".into()),
        leeway_seconds: 0,
    };
    let secret = read("hs256.secret")?;
    let verifier = match alg {
        "HS256" => {
            settings.secret_arn = Some("bench".into());
            TokenVerifier::new(&settings, Some(secret.trim().as_bytes()), None)?
        }
        "RS256" => {
            settings.public_key = Some(PublicKey { algorithm: Algorithm::RS256, pem: read("rsa-public.pem")? });
            TokenVerifier::new(&settings, None, None)?
        }
        other => bail!("unsupported algorithm {other}"),
    };
    let token = read(&format!("{}.jwt", alg.to_lowercase()))?;
    // Verification is async (a JWKS may need fetching); with a configured key it never waits,
    // so one current-thread runtime drives the whole loop without per-call overhead.
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let seconds = runtime.block_on(async {
        verifier.verify(token.trim()).await.map_err(|e| anyhow::anyhow!("bench token refused: {e}"))?;
        let started = Instant::now();
        for _ in 0..iterations {
            std::hint::black_box(verifier.verify(std::hint::black_box(token.trim())).await.is_ok());
        }
        anyhow::Ok(started.elapsed().as_secs_f64())
    })?;
    println!(
        "{}",
        json!({"seconds": seconds, "iterations": iterations, "ops_per_second": f64::from(iterations) / seconds})
    );
    Ok(())
}
