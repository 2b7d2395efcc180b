//! tokio-tungstenite peer for the wsloop benchmarks: echo on /echo, one
//! broadcast room on /chat (every message to every member, sender included).
//! One thread (current_thread runtime + LocalSet), so it competes on equal
//! terms with wsloop's single poll loop. Writes are batched: messages are fed
//! while more are ready and flushed once.
//!
//! `tt-server [--port 0]` prints `tokio-tungstenite listening on 127.0.0.1:PORT`.

use futures_util::{FutureExt, SinkExt, StreamExt};
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

#[derive(Default)]
struct Room {
    next: u64,
    members: Vec<(u64, mpsc::UnboundedSender<Message>)>,
}

fn main() {
    let mut port: u16 = 0;
    let a: Vec<String> = std::env::args().skip(1).collect();
    match a.as_slice() {
        [] => {}
        [f, p] if f == "--port" && p.parse::<u16>().is_ok() => port = p.parse().unwrap(),
        _ => {
            eprintln!("usage: tt-server [--port 0]");
            std::process::exit(2);
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("tt-server: bind: {e}");
                std::process::exit(2);
            }
        };
        println!(
            "tokio-tungstenite listening on {}",
            listener.local_addr().unwrap()
        );
        let _ = std::io::stdout().flush();
        let room = Rc::new(RefCell::new(Room::default()));
        loop {
            match listener.accept().await {
                Ok((s, _)) => {
                    let _ = s.set_nodelay(true);
                    tokio::task::spawn_local(conn(s, room.clone()));
                }
                Err(e) => {
                    eprintln!("tt-server: accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        }
    });
}

// The handshake callback's Result type (its large Err, an http Response) is tungstenite's.
#[allow(clippy::result_large_err)]
async fn conn(s: TcpStream, room: Rc<RefCell<Room>>) {
    let mut path = String::new();
    let ws = tokio_tungstenite::accept_hdr_async(s, |req: &Request, resp: Response| {
        path = req.uri().path().to_string();
        Ok(resp)
    })
    .await;
    let Ok(mut ws) = ws else { return };
    match path.as_str() {
        "/echo" => {
            while let Some(Ok(m)) = ws.next().await {
                if !(m.is_binary() || m.is_text()) {
                    continue; // ping/pong/close handled by tungstenite
                }
                if ws.feed(m).await.is_err() {
                    return;
                }
                // feed every message that is already readable, then flush once
                while let Some(Some(Ok(m))) = ws.next().now_or_never() {
                    if (m.is_binary() || m.is_text()) && ws.feed(m).await.is_err() {
                        return;
                    }
                }
                if ws.flush().await.is_err() {
                    return;
                }
            }
        }
        "/chat" => {
            let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
            let id = {
                let mut r = room.borrow_mut();
                r.next += 1;
                let id = r.next;
                r.members.push((id, tx));
                id
            };
            loop {
                tokio::select! {
                    m = ws.next() => match m {
                        Some(Ok(m)) if m.is_binary() || m.is_text() => {
                            for (_, tx) in room.borrow().members.iter() {
                                let _ = tx.send(m.clone());
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                    Some(m) = rx.recv() => {
                        if ws.feed(m).await.is_err() { break; }
                        while let Ok(m) = rx.try_recv() {
                            if ws.feed(m).await.is_err() { break; }
                        }
                        if ws.flush().await.is_err() { break; }
                    }
                }
            }
            let mut r = room.borrow_mut();
            if let Some(i) = r.members.iter().position(|(m, _)| *m == id) {
                r.members.swap_remove(i);
            }
        }
        _ => {
            let _ = ws.close(None).await;
        }
    }
}
