// wsloop test page. No framework, no build step.
// Rule: text that came from the network is only ever inserted with textContent.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const el = {
    state: $('state'), detail: $('status-detail'), closeInfo: $('close-info'), closeCode: $('close-code'),
    closeMeaning: $('close-meaning'), closeReason: $('close-reason'), closeReasonWrap: $('close-reason-wrap'),
    form: $('connect-form'), url: $('url'), route: $('route'), name: $('name'), room: $('room'),
    reconnect: $('reconnect'), connect: $('connect'), disconnect: $('disconnect'), hint: $('form-hint'),
    main: $('main'), members: $('members'), file: $('file'), uploadSend: $('upload-send'), receipt: $('receipt'),
    handshake: $('handshake'), frames: document.querySelector('#frames tbody'), log: $('log'), clear: $('clear'),
    composer: $('composer'), message: $('message'), send: $('send'),
    whisperBar: $('whisper-bar'), whisperTo: $('whisper-to'), whisperCancel: $('whisper-cancel'),
  };

  const SUBPROTOCOL = 'wsloop.chat.v1';
  const ROUTES = ['chat', 'echo', 'guest', 'upload', 'inspect'];
  const STATE_NAMES = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'];
  // RFC 6455 section 7.4.1 and the IANA WebSocket close code registry.
  const CLOSE_CODES = {
    1000: 'Normal Closure', 1001: 'Going Away', 1002: 'Protocol Error', 1003: 'Unsupported Data',
    1004: 'Reserved', 1005: 'No Status Received (no close code was sent)',
    1006: 'Abnormal Closure (connection lost without a close frame)', 1007: 'Invalid Frame Payload Data',
    1008: 'Policy Violation', 1009: 'Message Too Big', 1010: 'Mandatory Extension Missing',
    1011: 'Internal Server Error', 1012: 'Service Restart', 1013: 'Try Again Later',
    1014: 'Bad Gateway', 1015: 'TLS Handshake Failure',
  };
  const BACKOFF_MIN = 500, BACKOFF_MAX = 10000;
  // close codes that mean "this client did something wrong": reconnecting would only repeat it
  const NO_RETRY_CODES = [1002, 1003, 1007, 1008, 1009, 1010];
  let noRetryReason = '';

  let ws = null;            // current WebSocket
  let mode = 'chat';        // view/protocol of the current connection
  let userClosed = true;    // true after Disconnect (or before the first Connect)
  let everOpened = false;   // reconnect only after a session was once established
  let backoff = BACKOFF_MIN;
  let retryTimer = null, countdownTimer = null, retryAt = 0;
  let myName = '';
  let members = [];
  let whisperTarget = null;
  let msgCounter = 0;
  const pending = new Map();    // client id -> {text, to}
  const acks = new Map();       // seq -> delivered (ack arrived before the message)
  // A cluster node that cannot reach Redis shows messages at once with no seq
  // ("delayed"): our own such messages wait here for their ack, in order.
  const delayedOwn = [];
  let frameCount = 0;

  // ---------- storage (may be unavailable, e.g. some file:// setups) ----------
  const store = {
    get(k) { try { return localStorage.getItem(k); } catch (e) { return null; } },
    set(k, v) { try { localStorage.setItem(k, v); } catch (e) { /* ignore */ } },
  };

  // ---------- helpers ----------
  const pad = (n) => String(n).padStart(2, '0');
  const nowHMS = () => { const d = new Date(); return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()); };
  function make(tag, cls, text) {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined && text !== null) n.textContent = String(text);
    return n;
  }
  function closeMeaning(code) {
    if (CLOSE_CODES[code]) return CLOSE_CODES[code];
    if (code >= 3000 && code <= 3999) return 'registered by libraries/frameworks';
    if (code >= 4000 && code <= 4999) return 'application defined';
    return 'unknown';
  }
  // The caret goes to the message box when a connection opens, unless it is
  // in one of the form's text fields and Enter there was not what connected:
  // a name or room typed while the connection opens stays in its field.
  function mayTakeCaret(submittedFrom) {
    const a = document.activeElement;
    return !(a === el.url || a === el.name || a === el.room) || a === submittedFrom;
  }
  function isNearBottom() { return el.log.scrollHeight - el.log.scrollTop - el.log.clientHeight < 40; }

  // Add an entry to the log. parts: array of [className, text] rendered as spans.
  function addLog(kind, parts, opts) {
    opts = opts || {};
    const follow = opts.forceScroll || isNearBottom();
    const li = make('li', 'entry ' + kind);
    li.dataset.kind = kind;
    li.appendChild(make('time', 'time', opts.time || nowHMS()));
    for (const [cls, text] of parts) li.appendChild(make('span', cls, text));
    el.log.appendChild(li);
    while (el.log.children.length > 1000) el.log.removeChild(el.log.firstChild);
    if (follow) el.log.scrollTop = el.log.scrollHeight;
    return li;
  }
  const sys = (text) => addLog('system', [['text', text]]);
  const errLog = (text) => addLog('error', [['text', text]]);

  function describeData(data) {
    if (typeof data === 'string') return data;
    const n = data.byteLength !== undefined ? data.byteLength : data.size;
    return '[binary, ' + n + ' bytes]';
  }

  // ---------- URL / route handling ----------
  function defaultUrl() {
    if (location.protocol === 'http:' || location.protocol === 'https:') {
      return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/chat';
    }
    return 'ws://localhost:8080/chat';
  }
  function parseUrl(s) { try { return new URL(s); } catch (e) { return null; } }
  function routeFromPath(p) {
    if (p === '/' || p === '/chat' || p === '/chat/') return { route: 'chat', room: '' };
    const m = /^\/chat\/([^/]+)$/.exec(p);
    if (m) return { route: 'chat', room: decodeURIComponent(m[1]) };
    const r = p.replace(/^\//, '');
    if (ROUTES.includes(r)) return { route: r, room: null };
    return null;
  }
  function pathFor(route) {
    if (route !== 'chat') return '/' + route;
    const room = el.room.value.trim();
    return room && room !== 'lobby' ? '/chat/' + room : '/chat';
  }
  function setUrlPath(path) {
    const u = parseUrl(el.url.value.trim()) || parseUrl(defaultUrl());
    u.pathname = path;
    el.url.value = u.toString();
  }
  function showView(route) {
    el.main.dataset.view = route;
    el.form.dataset.route = route;
    const titles = { chat: 'Chat', echo: 'Echo', guest: 'Guest pushes', upload: 'Upload receipts', inspect: 'Echoed messages' };
    $('log-title').textContent = titles[route] || 'Messages';
  }

  // ---------- state display ----------
  function render() {
    const s = ws ? STATE_NAMES[ws.readyState] : 'CLOSED';
    el.state.textContent = s;
    el.state.dataset.state = s;
    const open = !!ws && ws.readyState === WebSocket.OPEN;
    const busy = !!ws && ws.readyState !== WebSocket.CLOSED;
    // Connect stays enabled: pressed while connected, it reconnects with
    // what the form says now (another name, room or route).
    el.connect.disabled = false;
    el.connect.textContent = busy ? 'Reconnect' : 'Connect';
    el.disconnect.disabled = !(busy || retryTimer !== null);
    // Typing may start while connecting; the message waits in the outbox.
    const typing = open || (ws && ws.readyState === WebSocket.CONNECTING);
    el.message.disabled = !typing;
    el.send.disabled = !typing;
    el.uploadSend.disabled = !open || mode !== 'upload' || !el.file.files || el.file.files.length === 0;
    if (retryTimer !== null) {
      const secs = Math.max(0, (retryAt - Date.now()) / 1000);
      el.detail.textContent = 'reconnecting in ' + (secs < 1 ? secs.toFixed(1) : Math.ceil(secs)) + ' s…';
    } else if (s === 'CONNECTING') {
      el.detail.textContent = 'connecting to ' + (ws ? ws.url : '') + '…';
    } else if (s === 'OPEN') {
      el.detail.textContent = ws.url + (ws.protocol ? ' (' + ws.protocol + ')' : '') + (myName ? ' as ' + myName : '') +
        (ws.extensions.includes('permessage-deflate') ? ' · compressed' : '');
    } else if (s === 'CLOSING') {
      el.detail.textContent = 'closing…';
    } else {
      el.detail.textContent = noRetryReason || (userClosed ? '' : (el.reconnect.checked ? '' : 'not reconnecting (automatic reconnect is off)'));
    }
  }

  function showClose(ev) {
    el.closeInfo.hidden = false;
    el.closeCode.textContent = String(ev.code);
    el.closeInfo.dataset.code = String(ev.code);
    el.closeMeaning.textContent = '— ' + closeMeaning(ev.code);
    el.closeReason.textContent = ev.reason || '';
    el.closeReasonWrap.hidden = !ev.reason;
  }

  // ---------- connection ----------
  function cancelRetry() {
    if (retryTimer !== null) clearTimeout(retryTimer);
    if (countdownTimer !== null) clearInterval(countdownTimer);
    retryTimer = countdownTimer = null;
  }
  function scheduleRetry() {
    cancelRetry();
    const delay = backoff;
    backoff = Math.min(backoff * 2, BACKOFF_MAX);
    retryAt = Date.now() + delay;
    retryTimer = setTimeout(() => { cancelRetry(); open(true); }, delay);
    countdownTimer = setInterval(render, 250);
    render();
  }

  // submittedFrom: what had the caret when the form was submitted (none for
  // retries and route changes)
  function open(isRetry, submittedFrom) {
    const url = el.url.value.trim();
    const u = parseUrl(url);
    if (!u || (u.protocol !== 'ws:' && u.protocol !== 'wss:')) {
      el.hint.textContent = 'The server URL must start with ws:// or wss://';
      el.url.focus();
      return;
    }
    const r = routeFromPath(u.pathname);
    if (r) {
      el.route.value = r.route;
      if (r.route === 'chat') el.room.value = r.room || el.room.value || '';
    }
    mode = r ? r.route : 'echo';
    showView(mode);
    if (mode === 'chat') {
      // No name yet: pick one (kept, and changeable) rather than ask first.
      if (!el.name.value.trim()) el.name.value = guestName();
      store.set('wsloop.name', el.name.value.trim());
    }
    el.hint.textContent = '';
    noRetryReason = '';
    myName = '';
    renames = 0;
    pending.clear();
    acks.clear();
    members = [];
    setWhisper(null);
    if (!isRetry) { userClosed = false; everOpened = false; backoff = BACKOFF_MIN; }
    let sock;
    try {
      sock = mode === 'chat' ? new WebSocket(url, SUBPROTOCOL) : new WebSocket(url);
    } catch (e) {
      el.hint.textContent = 'Cannot connect: ' + e.message;
      return;
    }
    sock.binaryType = 'arraybuffer';
    ws = sock;
    sock.onopen = () => {
      if (sock !== ws) return;
      everOpened = true;
      backoff = BACKOFF_MIN;
      el.closeInfo.hidden = true;
      sys('connected to ' + sock.url + (sock.protocol ? ' (subprotocol ' + sock.protocol + ')' : '') +
        (sock.extensions ? ', compressed: ' + sock.extensions : ', not compressed'));
      if (mode === 'chat') {
        if (sock.protocol === SUBPROTOCOL) {
          sendJSON({ type: 'hello', name: el.name.value.trim() });
        } else {
          errLog('server did not select ' + SUBPROTOCOL + '; messages are sent as plain text');
          flushOutbox();
        }
      } else {
        flushOutbox();
      }
      if (mode === 'inspect') { el.frames.textContent = ''; frameCount = 0; }
      render();
      if (mayTakeCaret(submittedFrom)) el.message.focus();
    };
    sock.onmessage = (ev) => { if (sock === ws) onMessage(ev.data); };
    sock.onerror = () => { /* the close event follows and carries the details */ };
    sock.onclose = (ev) => {
      if (sock !== ws) return;
      showClose(ev);
      if (everOpened || !isRetry) {
        addLog('system', [['text', 'closed: ' + ev.code + ' ' + closeMeaning(ev.code) + (ev.reason ? ' — ' + ev.reason : '')]]);
      }
      setMembers([]);
      myName = '';
      noRetryReason = '';
      if (!userClosed && everOpened && el.reconnect.checked) {
        if (NO_RETRY_CODES.includes(ev.code)) {
          noRetryReason = 'not reconnecting: the server rejected what this page sent (' + ev.code + '), a retry would fail the same way';
          userClosed = true;
        } else {
          scheduleRetry();
        }
      }
      render();
    };
    render();
  }

  function disconnect() {
    userClosed = true;
    cancelRetry();
    if (ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)) {
      ws.close(1000, 'user disconnected');
    }
    render();
  }

  function sendJSON(obj) { ws.send(JSON.stringify(obj)); }

  // ---------- incoming ----------
  function onMessage(data) {
    switch (mode) {
      case 'chat': return onChat(data);
      case 'guest': return onGuest(data);
      case 'upload': return onUpload(data);
      case 'inspect': return onInspect(data);
      default: return addLog('in', [['dir', '←'], ['text', describeData(data)]]);
    }
  }

  function tryJSON(data) {
    if (typeof data !== 'string') return null;
    try { const o = JSON.parse(data); return o && typeof o === 'object' && !Array.isArray(o) ? o : null; } catch (e) { return null; }
  }

  // chat (wsloop.chat.v1)
  function onChat(data) {
    const o = ws && ws.protocol === SUBPROTOCOL ? tryJSON(data) : null;
    if (!o) return addLog('in', [['text', describeData(data)]]);
    switch (o.type) {
      case 'welcome':
        myName = String(o.name || '');
        setMembers(o.members || []);
        sys('you are ' + myName + ' in room ' + o.room);
        render();
        flushOutbox();
        break;
      case 'joined':
        if (!members.includes(o.name)) setMembers(members.concat([o.name]));
        sys(o.name + ' joined');
        break;
      case 'left':
        setMembers(members.filter((m) => m !== o.name));
        if (whisperTarget === o.name) setWhisper(null);
        sys(o.name + ' left');
        break;
      case 'who':
        setMembers(o.members || []);
        break;
      case 'message': {
        if (findSeq(o.seq)) break; // already shown (own message shown at ack time)
        const li = chatEntry(o);
        if (o.delayed && myName && o.from === myName) delayedOwn.push(li);
        break;
      }
      case 'status': // rooms across nodes: the node's link to the other nodes
        sys(o.cluster === 'down'
          ? 'link to the other nodes lost: messages reach them when it is back (delayed)'
          : 'link to the other nodes is back');
        break;
      case 'resync':
        errLog('some messages of room ' + o.room + ' were missed: ' + o.reason);
        break;
      case 'ack': {
        const p = pending.get(o.id);
        pending.delete(o.id);
        let li = o.seq === null && o.delayed ? delayedOwn.shift() : findSeq(o.seq);
        if (!li && p) { // our own message did not come back to us (e.g. a whisper): show it now
          li = chatEntry({ seq: o.seq, from: myName, to: p.to, text: p.text, time: nowHMS(), private: !!p.to });
        }
        if (li) markAck(li, o.delivered); else acks.set(o.seq, o.delivered);
        break;
      }
      case 'error': {
        if (!myName && renameAfterRefusal(String(o.reason || ''))) break;
        const p = o.id ? pending.get(o.id) : null;
        if (p) pending.delete(o.id);
        errLog('error: ' + o.reason + (p ? ' (message "' + p.text + '")' : ''));
        break;
      }
      default:
        addLog('in', [['text', data]]);
    }
  }
  function findSeq(seq) {
    if (seq === undefined || seq === null) return null;
    return el.log.querySelector('li[data-seq="' + CSS.escape(String(seq)) + '"]');
  }
  function chatEntry(o) {
    const own = !!myName && o.from === myName;
    const parts = [];
    if (o.private) {
      parts.push(['from', String(o.from)], ['arrow', ' → '], ['to', String(o.to || '')], ['badge', 'private']);
    } else {
      parts.push(['from', String(o.from)]);
    }
    parts.push(['text', String(o.text)]);
    const li = addLog('message' + (own ? ' own' : '') + (o.private ? ' private' : ''), parts,
      { time: o.time, forceScroll: own });
    li.dataset.kind = 'message';
    if (o.seq !== undefined) li.dataset.seq = String(o.seq);
    li.dataset.from = String(o.from);
    li.dataset.own = own ? 'true' : 'false';
    if (o.private) li.dataset.private = 'true';
    if (own) {
      li.appendChild(make('span', 'tick pending', '…'));
      if (acks.has(o.seq)) { markAck(li, acks.get(o.seq)); acks.delete(o.seq); }
    }
    return li;
  }
  function markAck(li, delivered) {
    let t = li.querySelector('.tick');
    if (!t) { t = make('span', 'tick'); li.appendChild(t); }
    t.className = 'tick acked';
    t.textContent = '✓';
    t.title = 'delivered to ' + delivered;
    t.setAttribute('aria-label', 'delivered to ' + delivered);
    li.dataset.acked = 'true';
    li.dataset.delivered = String(delivered);
  }

  function setMembers(list) {
    members = list.map(String);
    el.members.textContent = '';
    for (const m of members) {
      const li = make('li');
      const b = make('button', 'member', m);
      b.type = 'button';
      b.dataset.member = m;
      if (m === myName) {
        b.classList.add('me');
        b.disabled = true;
        b.title = 'that is you';
        b.appendChild(make('span', 'you', ' (you)'));
      } else {
        b.title = 'whisper to ' + m;
        if (m === whisperTarget) { b.classList.add('selected'); b.setAttribute('aria-pressed', 'true'); }
        else b.setAttribute('aria-pressed', 'false');
      }
      li.appendChild(b);
      el.members.appendChild(li);
    }
    el.members.dataset.count = String(members.length);
  }
  function setWhisper(name) {
    whisperTarget = name;
    el.whisperBar.hidden = !name;
    el.whisperTo.textContent = name || '';
    el.message.placeholder = name ? 'Private message to ' + name : 'Type a message, Enter sends';
    setMembers(members);
  }

  // guest
  function onGuest(data) {
    const o = tryJSON(data);
    if (o && 'guest' in o) return addLog('in guest', [['text', String(o.guest) + ' at ' + String(o.time)]]);
    addLog('in', [['text', describeData(data)]]);
  }

  // upload
  function onUpload(data) {
    const o = tryJSON(data);
    if (o && 'saved' in o) {
      const txt = 'Saved as ' + o.saved + ' (' + Number(o.bytes).toLocaleString('en') + ' bytes)';
      el.receipt.textContent = txt;
      el.receipt.className = 'receipt ok';
      el.receipt.dataset.saved = String(o.saved);
      el.receipt.dataset.bytes = String(o.bytes);
      return addLog('in receipt', [['text', txt]]);
    }
    if (o && 'error' in o) {
      el.receipt.textContent = 'Upload failed: ' + o.error;
      el.receipt.className = 'receipt bad';
      return errLog('upload error: ' + o.error);
    }
    addLog('in', [['text', describeData(data)]]);
  }
  async function sendFile() {
    const f = el.file.files && el.file.files[0];
    if (!f || !ws || ws.readyState !== WebSocket.OPEN) return;
    const buf = await f.arrayBuffer();
    ws.send(buf); // one binary message
    el.receipt.textContent = 'Sent ' + f.name + ' (' + buf.byteLength.toLocaleString('en') + ' bytes), waiting for receipt…';
    el.receipt.className = 'receipt';
    addLog('out', [['dir', '→'], ['text', f.name + ' [binary, ' + buf.byteLength + ' bytes]']], { forceScroll: true });
  }

  // inspect
  function onInspect(data) {
    const o = tryJSON(data);
    if (o && o.type === 'handshake') {
      el.handshake.textContent =
        String(o.request || '').replace(/\r\n/g, '\n').trimEnd() + '\n\n' +
        'Sec-WebSocket-Key:     ' + o.key + '\n' +
        'key + GUID:            ' + o.key_guid + '\n' +
        'SHA-1 (hex):           ' + o.sha1_hex + '\n' +
        'Sec-WebSocket-Accept:  ' + o.accept;
      return;
    }
    if (o && o.type === 'frame') return frameRow(o);
    addLog('in', [['dir', '←'], ['text', describeData(data)]]);
  }
  function frameRow(f) {
    frameCount++;
    const tr = document.createElement('tr');
    tr.dataset.opcode = String(f.opcode);
    tr.dataset.opcodeName = String(f.opcode_name);
    tr.dataset.masked = String(f.masked);
    const rsv = [f.rsv1, f.rsv2, f.rsv3].map((b) => (b ? '1' : '0')).join('');
    const hex = (f.header_hex ? 'hdr ' + f.header_hex + ' ' : '') + 'payload ' + (f.payload_hex || '') + (f.truncated ? ' …' : '');
    const cells = [
      ['n', frameCount], ['fin', String(f.fin)], ['rsv', rsv], ['opcode', f.opcode + ' ' + f.opcode_name],
      ['masked', String(f.masked)], ['mask', f.mask_key || '—'], ['len', f.payload_len],
      ['lenenc', f.length_encoding], ['hex', hex], ['text', f.text === null || f.text === undefined ? '—' : f.text],
    ];
    for (const [k, v] of cells) {
      const td = make('td', 'c-' + k, v);
      td.dataset.col = k;
      tr.appendChild(td);
    }
    el.frames.appendChild(tr);
    const wrap = el.frames.closest('.table-wrap');
    wrap.scrollTop = wrap.scrollHeight;
  }

  // ---------- outgoing ----------
  // A name like guest-4821 for a newcomer: typing comes first, naming later.
  function guestName() {
    return 'guest-' + String(1000 + Math.floor(Math.random() * 9000));
  }
  // Before the welcome, a refused hello: take the server's suggestion (or a
  // new guest name) and say hello again, a few times at most.
  let renames = 0;
  function renameAfterRefusal(reason) {
    if (renames >= 3 || !ws || ws.protocol !== SUBPROTOCOL) return false;
    renames += 1;
    const m = /is taken; try (\S+)$/.exec(reason);
    const name = m ? m[1] : guestName();
    sys(reason + ' — trying ' + name);
    el.name.value = name;
    store.set('wsloop.name', name);
    sendJSON({ type: 'hello', name });
    return true;
  }
  // What was typed while connecting goes out once the connection is ready.
  const outbox = [];
  function flushOutbox() {
    while (outbox.length && ws && ws.readyState === WebSocket.OPEN) {
      el.message.value = outbox.shift();
      sendMessage();
    }
  }

  function sendMessage() {
    const text = el.message.value;
    if (!text.trim()) return;
    const ready = ws && ws.readyState === WebSocket.OPEN && (mode !== 'chat' || myName || ws.protocol !== SUBPROTOCOL);
    if (!ready) {
      if (ws && ws.readyState === WebSocket.CONNECTING || (ws && ws.readyState === WebSocket.OPEN)) {
        outbox.push(text);
        el.message.value = '';
        sys('connecting… your message goes out once connected');
      }
      return;
    }
    if (mode === 'chat' && ws.protocol === SUBPROTOCOL) {
      const id = 'c' + (++msgCounter);
      if (whisperTarget) {
        pending.set(id, { text, to: whisperTarget });
        sendJSON({ type: 'whisper', to: whisperTarget, text, id });
      } else {
        pending.set(id, { text, to: null });
        sendJSON({ type: 'say', text, id });
      }
    } else {
      ws.send(text);
      if (mode !== 'chat') addLog('out', [['dir', '→'], ['text', text]], { forceScroll: true });
    }
    el.message.value = '';
    el.message.focus();
  }

  // ---------- wiring ----------
  el.form.addEventListener('submit', (e) => {
    e.preventDefault();
    cancelRetry();
    const from = document.activeElement;
    if (ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)) disconnect();
    open(false, from);
  });
  el.disconnect.addEventListener('click', disconnect);
  el.composer.addEventListener('submit', (e) => { e.preventDefault(); sendMessage(); });
  el.clear.addEventListener('click', () => { el.log.textContent = ''; });
  el.route.addEventListener('change', () => {
    setUrlPath(pathFor(el.route.value));
    showView(el.route.value);
    // switching route while connected: reconnect to the new route
    if (ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) || retryTimer !== null) {
      disconnect();
      open(false);
    }
  });
  el.room.addEventListener('input', () => { if (el.route.value === 'chat') setUrlPath(pathFor('chat')); });
  el.name.addEventListener('change', () => { const n = el.name.value.trim(); if (n) store.set('wsloop.name', n); });
  el.reconnect.addEventListener('change', () => { if (!el.reconnect.checked) cancelRetry(); render(); });
  el.file.addEventListener('change', render);
  el.uploadSend.addEventListener('click', () => { sendFile().catch((e) => errLog('could not read file: ' + e.message)); });
  el.whisperCancel.addEventListener('click', () => { setWhisper(null); el.message.focus(); });
  el.members.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-member]');
    if (!b || b.disabled) return;
    const m = b.dataset.member;
    setWhisper(whisperTarget === m ? null : m);
    el.message.focus();
  });
  el.message.addEventListener('keydown', (e) => { if (e.key === 'Escape' && whisperTarget) setWhisper(null); });

  // ---------- init ----------
  el.url.value = defaultUrl();
  el.name.value = store.get('wsloop.name') || guestName();
  store.set('wsloop.name', el.name.value);
  const r0 = routeFromPath((parseUrl(el.url.value) || {}).pathname || '/chat');
  el.route.value = r0 ? r0.route : 'chat';
  showView(el.route.value);
  render();
  // Connect at once, as the tutorials' pages do: served over HTTP to this
  // page's own server, opened from disk to ws://localhost:8080/chat.
  open(false);
  el.message.focus();
})();
