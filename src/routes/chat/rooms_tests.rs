use super::*;

#[test]
fn rooms_gather_one_shared_buffer_per_round() {
    let mut rooms = Rooms::default();
    let lobby = rooms.join("lobby", 1, 11, false);
    assert_eq!(rooms.join("lobby", 2, 12, false), lobby);
    let other = rooms.join("other", 3, 13, false);
    assert_ne!(lobby, other);
    rooms.queue_plain(lobby, Opcode::Text, b"one");
    rooms.queue_plain(lobby, Opcode::Text, b"two");
    let mut got = Vec::new();
    rooms.deliver_round(|key, _, bytes, _| got.push((key, bytes.clone())));
    assert_eq!(got.len(), 2, "one delivery per lobby member");
    assert_eq!(&got[0].1[..], b"\x81\x03one\x81\x03two");
    assert!(Rc::ptr_eq(&got[0].1, &got[1].1), "one shared buffer");
    let mut again = 0;
    rooms.deliver_round(|_, _, _, _| again += 1);
    assert_eq!(again, 0);
    rooms.leave(other, 3);
    assert!(rooms.get(other).is_none());
}

#[test]
fn a_direct_message_keeps_its_place_between_broadcasts() {
    let mut rooms = Rooms::default();
    let lobby = rooms.join("lobby", 1, 11, false);
    rooms.join("lobby", 2, 12, false);
    rooms.queue_plain(lobby, Opcode::Text, b"before");
    rooms.queue_direct(lobby, 2, 12, shared_text(b"direct"));
    rooms.queue_plain(lobby, Opcode::Text, b"after");
    let mut to_two = Vec::new();
    rooms.deliver_round(|key, _, bytes, _| {
        if key == 2 {
            to_two.extend_from_slice(bytes);
        }
    });
    assert_eq!(to_two, b"\x81\x06before\x81\x06direct\x81\x05after");
}

#[test]
fn names_are_claimed_once_and_freed_on_leave() {
    let mut rooms = Rooms::default();
    let lobby = rooms.join("lobby", 1, 11, true);
    rooms.join("lobby", 2, 12, true);
    let room = rooms.get_mut(lobby).unwrap();
    assert!(room.claim_name(1, "alice"));
    assert!(!room.claim_name(2, "alice"));
    assert!(!room.claim_name(2, "ALICE"), "compared case-folded");
    assert_eq!(room.find_by_name("Alice").map(|m| m.key), Some(1));
    rooms.leave(lobby, 1);
    assert!(rooms.get_mut(lobby).unwrap().claim_name(2, "alice"));
}

#[test]
fn each_piece_says_how_many_frames_it_holds_for_its_member() {
    let mut rooms = Rooms::default();
    let lobby = rooms.join("lobby", 1, 11, false);
    rooms.join("lobby", 2, 12, true);
    rooms.queue_plain(lobby, Opcode::Text, b"one");
    rooms.queue_plain(lobby, Opcode::Text, b"two");
    rooms.queue_v1(lobby, r#"{"type":"joined","name":"x"}"#);
    rooms.queue_direct(lobby, 1, 11, shared_text(b"direct"));
    rooms.queue_plain(lobby, Opcode::Text, b"three");
    let mut got = Vec::new();
    rooms.deliver_round(|key, _, _, frames| got.push((key, frames)));
    assert_eq!(got, [(1, 2), (2, 1), (1, 1), (1, 1)]);
    let mut again = Vec::new();
    rooms.deliver_round(|key, _, _, frames| again.push((key, frames)));
    assert!(again.is_empty(), "{again:?}");
}
