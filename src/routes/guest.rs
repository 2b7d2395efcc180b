//! `/guest`: the push demo of the Node tutorials. The server speaks first
//! and keeps speaking — a JSON text at random intervals — which is what a
//! WebSocket gives that request/response HTTP cannot.

use serde_json::json;

use super::Ctx;
use crate::app::Handle;

pub const GREETING: &str = "The server is listening to you now.";

const SURNAMES: [&str; 16] = [
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
];
const GIVEN_NAMES: [&str; 20] = [
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀兰", "霞",
];

pub fn on_open(conn: &mut Handle, ctx: &mut Ctx) {
    conn.send_text(GREETING);
    schedule_next(conn, ctx);
}

/// Any message from the guest gets a push at once.
pub fn on_message(conn: &mut Handle, ctx: &mut Ctx) {
    push(conn, ctx);
}

/// The push timer fired.
pub fn on_timer(conn: &mut Handle, ctx: &mut Ctx) {
    push(conn, ctx);
    schedule_next(conn, ctx);
}

fn push(conn: &mut Handle, ctx: &mut Ctx) {
    let surname = pick(&SURNAMES, ctx);
    let given = pick(&GIVEN_NAMES, ctx);
    let event = json!({"guest": format!("{surname}{given}"), "time": ctx.clock.hms()});
    conn.send_text(&event.to_string());
}

fn pick(list: &[&'static str], ctx: &mut Ctx) -> &'static str {
    let i = ctx.rng.between(0, list.len() as u64 - 1) as usize;
    list.get(i).copied().unwrap_or_default()
}

fn schedule_next(conn: &mut Handle, ctx: &mut Ctx) {
    let (lo, hi) = ctx.config.push_interval;
    let ms = ctx
        .rng
        .between(lo.as_millis() as u64, hi.as_millis() as u64);
    conn.schedule(ctx.now + std::time::Duration::from_millis(ms));
}
