//! Loopback upload throughput into the embedded store: 1 GiB in parts of
//! five encrypted 4 MiB chunks (20,971,605 bytes, what Ferry sends),
//! against a named baseline measured in the same run: the same client
//! PUTting the same parts into a null sink that discards the body. The
//! ratio is the cost of SigV4 checks, MD5, the disk and the final Complete.
//!
//! `cargo bench -p ferry-server --bench upload` (or `npm run bench`);
//! `FERRY_BENCH_SERVER_MIB` changes the total.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::put;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

const PART: usize = 5 * (4 * 1024 * 1024 + 17);

#[tokio::main]
async fn main() {
    let total_mib: usize = std::env::var("FERRY_BENCH_SERVER_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let parts = (total_mib * 1024 * 1024).div_ceil(PART);
    let body = bytes::Bytes::from(vec![0x5au8; PART]);
    let client = reqwest::Client::new();

    // Baseline: a loopback HTTP server that reads and drops every body.
    let sink = Router::new().route(
        "/sink/{n}",
        put(|body: axum::body::Body| async move {
            let mut stream = body.into_data_stream();
            while stream.next().await.is_some() {}
            "ok"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, sink).await });

    let dir = tempfile::tempdir().unwrap();
    let server = ferry_server::start(ferry_server::Config::for_tests(dir.path()))
        .await
        .unwrap();
    let api = server.api_url();

    println!(
        "\nLoopback upload, {parts} parts of {PART} bytes ({:.0} MB), release build",
        (parts * PART) as f64 / 1e6
    );
    println!("| target | concurrency | MB/s | vs null sink |");
    println!("|---|---:|---:|---:|");
    for concurrency in [1usize, 4] {
        let sink_urls: Vec<String> = (0..parts)
            .map(|n| format!("http://{sink_addr}/sink/{n}"))
            .collect();
        let baseline = upload_all(&client, &sink_urls, &body, concurrency).await;

        let multipart: serde_json::Value = client
            .get(format!("{api}/files/multipart-upload-urls?count={parts}"))
            .header("X-Auth-Token", &server.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let part_urls: Vec<String> = multipart["urls"]["partURLs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u.as_str().unwrap().to_owned())
            .collect();
        let started = Instant::now();
        let etags = upload_parts(&client, &part_urls, &body, concurrency).await;
        let parts_done = started.elapsed();
        let xml: String = etags
            .iter()
            .enumerate()
            .map(|(i, e)| {
                format!(
                    "<Part><PartNumber>{}</PartNumber><ETag>{e}</ETag></Part>",
                    i + 1
                )
            })
            .collect();
        let complete = client
            .post(multipart["urls"]["completeURL"].as_str().unwrap())
            .body(format!(
                "<CompleteMultipartUpload>{xml}</CompleteMultipartUpload>"
            ))
            .send()
            .await
            .unwrap();
        assert!(complete.status().is_success());
        complete.bytes().await.unwrap();
        let store = started.elapsed();
        let complete_time = store - parts_done;

        let mbps = |d: Duration| (parts * PART) as f64 / 1e6 / d.as_secs_f64();
        println!(
            "| null sink (baseline) | {concurrency} | {:.0} | 1.00× |",
            mbps(baseline)
        );
        println!(
            "| embedded S3 store, parts only | {concurrency} | {:.0} | {:.2}× |",
            mbps(parts_done),
            baseline.as_secs_f64() / parts_done.as_secs_f64()
        );
        println!(
            "| embedded S3 store, parts + Complete ({:.1} s) | {concurrency} | {:.0} | {:.2}× |",
            complete_time.as_secs_f64(),
            mbps(store),
            baseline.as_secs_f64() / store.as_secs_f64()
        );
    }
    server.shutdown().await;
}

async fn upload_all(
    client: &reqwest::Client,
    urls: &[String],
    body: &bytes::Bytes,
    concurrency: usize,
) -> Duration {
    let started = Instant::now();
    upload_parts(client, urls, body, concurrency).await;
    started.elapsed()
}

async fn upload_parts(
    client: &reqwest::Client,
    urls: &[String],
    body: &bytes::Bytes,
    concurrency: usize,
) -> Vec<String> {
    let mut etags = vec![String::new(); urls.len()];
    let mut pending = urls.iter().enumerate();
    let mut in_flight = FuturesUnordered::new();
    loop {
        while in_flight.len() < concurrency {
            let Some((i, url)) = pending.next() else {
                break;
            };
            let request = client.put(url).body(body.clone()).send();
            in_flight.push(async move { (i, request.await) });
        }
        let Some((i, response)) = in_flight.next().await else {
            break;
        };
        let response = response.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        etags[i] = response
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
    }
    etags
}
