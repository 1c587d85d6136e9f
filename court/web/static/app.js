// The verification pages' script (court/web). No framework and no build
// step: it hashes files with SM3 in chunks (hash-wasm), asks the court's
// REST API about fingerprints only, runs the project's verifier
// (WebAssembly) on the certificate page and on a web capture bundle, and
// keeps the sign-in session's CSRF token in memory. The file's bytes never leave the page.
(function () {
  'use strict';

  const T = JSON.parse(document.getElementById('page-data').textContent);
  const body = document.body;
  const page = body.dataset.page;
  const lang = body.dataset.lang;
  // Chunks of 8 MiB keep memory flat for a file of any size and let the
  // progress bar move.
  const CHUNK = 8 << 20;
  let csrf = null;
  let who = null;

  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v; else e.setAttribute(k, v);
    }
    for (const k of kids) e.append(k);
    return e;
  };
  const fmtTime = (s) => {
    if (!s) return '—';
    const d = new Date(s);
    if (isNaN(d)) return s;
    return d.toLocaleString(lang === 'en' ? 'en-GB' : 'zh-CN', { timeZone: 'Asia/Shanghai', hour12: false }) + ' (UTC+8)';
  };
  const ago = (s) => {
    const d = new Date(s);
    if (!s || isNaN(d)) return '';
    const secs = Math.max(0, Math.round((Date.now() - d.getTime()) / 1000));
    return secs + ' ' + T.seconds + ' ' + T.ago;
  };

  // api calls the court's REST API as this page's session, if any: the
  // cookie goes along (same origin only) and the CSRF token in a header.
  async function api(path, opts) {
    const headers = Object.assign({ Accept: 'application/json' }, (opts && opts.headers) || {});
    if (csrf) headers['X-CSRF-Token'] = csrf;
    const resp = await fetch(path, Object.assign({}, opts, { headers, credentials: 'same-origin', cache: 'no-store' }));
    if (!resp.ok) {
      let msg = resp.status + ' ' + resp.statusText;
      try {
        const j = await resp.json();
        const reason = (j.details || []).map((d) => d.reason).filter(Boolean)[0];
        msg = (j.message || j.error || msg) + (reason ? ' [' + reason + ']' : '');
        // The court's messages are English; a known refusal is said in
        // the page's language first.
        if (reason && T['reason.' + reason]) msg = T['reason.' + reason] + ' (' + msg + ')';
      } catch (e) { /* not JSON */ }
      if (resp.status === 401 && who) {
        who = null; csrf = null; showSession();
        msg = T.sessionGone + ' ' + msg;
      }
      const err = new Error(msg);
      err.status = resp.status;
      throw err;
    }
    return resp;
  }

  async function loadSession() {
    if (body.dataset.signin !== 'true') return;
    try {
      const resp = await fetch('/web/session', { credentials: 'same-origin', cache: 'no-store' });
      if (resp.ok) {
        const s = await resp.json();
        if (s.csrf) { csrf = s.csrf; who = s; }
      }
    } catch (e) { /* offline: the page works without a session */ }
    showSession();
  }

  function showSession() {
    const box = $('session');
    if (!box) return;
    box.hidden = !who;
    if ($('signin-link')) $('signin-link').hidden = !!who;
    if (who) $('session-who').textContent = T.signedInAs + who.role + ':' + who.id;
    if ($('lookup-section')) $('lookup-section').hidden = !who;
  }

  if ($('signout')) {
    $('signout').addEventListener('click', async () => {
      try { await api('/web/session/logout', { method: 'POST' }); } catch (e) { /* gone already */ }
      who = null; csrf = null; showSession();
    });
  }

  // sm3File hashes a File with SM3 inside the page, in chunks.
  async function sm3File(file, progress) {
    const h = await hashwasm.createSM3();
    h.init();
    let off = 0;
    const started = performance.now();
    if (progress) progress(0, file.size, started);
    while (off < file.size) {
      const buf = await file.slice(off, off + CHUNK).arrayBuffer();
      h.update(new Uint8Array(buf));
      off += buf.byteLength;
      if (progress) progress(off, file.size, started);
    }
    return h.digest('hex');
  }

  function progressTo(done, total, started) {
    const box = $('progress-box');
    if (!box) return;
    box.hidden = false;
    const pct = total ? Math.floor((done * 100) / total) : 100;
    $('progress').value = pct;
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    $('progress-text').textContent = T.hashing + ' ' + pct + '% (' + done + ' / ' + total + ' ' + T.bytes + ', ' + secs + ' ' + T.seconds + ')';
  }

  function verdictBox(verdict, reason) {
    const ok = verdict === 'VERDICT_VALID' || verdict === 'VALID';
    return el('div', { class: 'verdict ' + (ok ? 'ok' : 'bad'), role: 'status', 'data-verdict': verdict },
      el('strong', {}, T['verdict.' + verdict] || verdict), ' ', el('span', { class: 'reason' }, reason || ''));
  }

  function facts(pairs) {
    const dl = el('dl', { class: 'facts' });
    for (const [k, v] of pairs) {
      if (v === undefined || v === null || v === '') continue;
      dl.append(el('dt', {}, k), el('dd', {}, v));
    }
    return dl;
  }

  function witnessList(ws) {
    if (!ws || !ws.length) return '—';
    return ws.map((w) => w.court + (w.cosigned_at ? ' @ ' + fmtTime(w.cosigned_at) : '') +
      (w.trusted === undefined ? '' : ' (' + (w.trusted ? T.trusted : T.untrusted) + ')')).join('; ');
  }

  function downloadButtons(evidenceId, fingerprint) {
    const q = fingerprint ? '?fingerprint=' + encodeURIComponent(fingerprint) : '';
    const base = '/v1/evidence/' + encodeURIComponent(evidenceId);
    const mk = (label, path, name) => {
      const b = el('button', { type: 'button', class: 'download' }, label);
      b.addEventListener('click', async () => {
        try {
          const resp = await api(base + path + q);
          const url = URL.createObjectURL(await resp.blob());
          const a = el('a', { href: url, download: name });
          document.body.append(a); a.click(); a.remove();
          setTimeout(() => URL.revokeObjectURL(url), 10000);
        } catch (e) { showError(e); }
      });
      return b;
    };
    return el('p', { class: 'downloads' },
      mk(T.downloadJSON, '/certificate.json', 'certificate-' + evidenceId + '.json'), ' ',
      mk(T.downloadPDF, '/certificate.pdf', 'certificate-' + evidenceId + '.pdf'));
  }

  function showError(e) {
    const r = $('result');
    r.replaceChildren(el('div', { class: 'verdict bad', role: 'alert' }, T.error + (e && e.message ? e.message : String(e))));
  }

  // The verdict panel of GET /v1/verdicts/{fingerprint}.
  function showVerdict(v, fp) {
    const r = $('result');
    const out = [verdictBox(v.verdict, v.reason), facts([[T.fingerprint, el('code', { class: 'hash', id: 'result-sm3' }, fp)]])];
    const expected = $('expected-sm3');
    if (expected) {
      const same = expected.textContent.trim().toLowerCase() === fp;
      out.push(el('p', { class: same ? 'ok' : 'bad', id: 'expected-check' }, same ? T.expectedSame : T.expectedDiff));
    }
    const recs = v.recordings || [];
    if (!recs.length && v.verdict === 'VERDICT_NOT_RECORDED') out.push(el('p', {}, T.notRecordedAt));
    for (const rec of recs) {
      const mirror = v.served_by && rec.court !== v.served_by;
      out.push(el('section', { class: 'recording' },
        facts([
          [T.court, rec.court],
          [T.evidence, el('code', {}, rec.evidence_id)],
          [T.recorded, fmtTime(rec.recorded_at)],
          [T.platform, rec.platform],
          [T.category, rec.category],
          [T.title, rec.title],
          [T.position, String(rec.index || 0) + ' (' + T.of + ' ' + rec.tree_size + ')'],
          [T.witnesses, witnessList(rec.witnesses)],
          [T.served, v.served_by + ' — ' + (mirror ? T.mirror : T.own)],
          [T.freshness, v.latest_head ? v.latest_head.origin + ' #' + v.latest_head.size + ', ' + fmtTime(v.latest_head.time) + ' (' + ago(v.latest_head.time) + ')' : ''],
        ]),
        downloadButtons(rec.evidence_id, rec.fingerprint)));
    }
    r.replaceChildren(...out);
  }

  // loadVerifier loads the project's verifier (WebAssembly) once and
  // resolves to how long that took, in ms. The certificate page loads it
  // when it opens; the verify page only when a zip is chosen (a capture
  // bundle), so a plain file costs no 8 MB download.
  let verifier = null;
  function loadVerifier() {
    if (verifier) return verifier;
    const go = new Go();
    const started = performance.now();
    verifier = WebAssembly.instantiateStreaming(fetch('/static/verifier.wasm'), go.importObject).then((res) => {
      go.run(res.instance); // not awaited: it settles only if the program exits
      return new Promise((resolve) => {
        const wait = () => {
          if (globalThis.courtledgerVerifierReady) resolve(Math.round(performance.now() - started));
          else setTimeout(wait, 10);
        };
        wait();
      });
    });
    verifier.catch(() => { verifier = null; });
    return verifier;
  }

  // A capture bundle (evidencectl capture) is a zip: it starts with a
  // local file header. Bundles up to MAX_BUNDLE are checked in the page
  // (the verifier's bound: it holds the whole bundle in memory).
  const MAX_BUNDLE = 512 << 20;
  async function isZip(file) {
    const head = new Uint8Array(await file.slice(0, 4).arrayBuffer());
    return head.length === 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 3 && head[3] === 4;
  }

  // checkBundle checks a zip as a capture bundle in the verifier, exactly
  // as evidencectl verify does: every file against the manifest. It
  // answers null for a zip that is no bundle (verified as a plain file).
  async function checkBundle(file) {
    $('result').replaceChildren(el('p', { class: 'state' }, T.checkingBundle));
    await loadVerifier();
    const t0 = performance.now();
    const a = JSON.parse(globalThis.courtledgerReadBundle(new Uint8Array(await file.arrayBuffer())));
    if (a.error) throw new Error(a.error);
    a.ms = (performance.now() - t0).toFixed(1);
    return a.kind === 'not_bundle' ? null : a;
  }

  // captureBox shows what a bundle's manifest says was captured and, for
  // a bundle whose every file matched, its screenshot beside it.
  function captureBox(b) {
    const c = b.capture || {};
    const left = el('div', {},
      el('h2', {}, T.bundle),
      facts([
        [T.captureURL, el('code', { class: 'hash', id: 'capture-url' }, c.url || '')],
        [T.finalURL, c.final_url && c.final_url !== c.url ? el('code', { class: 'hash' }, c.final_url) : ''],
        [T.pageTitle, c.title],
        [T.capturedAt, c.started_at ? el('span', { id: 'capture-time' }, fmtTime(c.started_at)) : ''],
        [T.browser, c.browser],
        [T.bundleFiles, c.files ? String(c.files) : ''],
        [T.captureWarnings, (c.warnings || []).join('; ')],
        // A bundle that checks out has it below as the fingerprint verified.
        [T.manifestFP, b.kind === 'bundle' ? '' : el('code', { class: 'hash' }, b.fingerprint || '')],
      ]));
    if (b.kind === 'bundle') left.append(el('p', { class: 'ok', id: 'bundle-state' }, T.bundleOK.replace('%d', c.files)));
    if (b.problems && b.problems.length) {
      left.append(el('p', { class: 'bad', id: 'bundle-state' }, T.bundleBad),
        el('ul', { class: 'problems', id: 'bundle-problems' }, ...b.problems.map((p) => el('li', {}, el('code', {}, p)))));
    }
    const box = el('section', { class: 'capture', id: 'capture', 'data-kind': b.kind, 'data-ms': b.ms }, left);
    if (!b.screenshot) box.classList.add('alone');
    if (b.screenshot) {
      const img = el('img', { id: 'capture-screenshot', src: b.screenshot, alt: T.screenshot + ': ' + (c.url || '') });
      box.append(el('figure', {}, el('a', { href: b.screenshot, target: '_blank', rel: 'noopener' }, img), el('figcaption', {}, T.screenshot)));
    }
    return box;
  }

  function initVerify() {
    const input = $('file');
    const drop = $('drop');
    let chosen = null;
    const choose = (f) => { chosen = f; $('file-name').textContent = f ? f.name + ' (' + f.size + ' ' + T.bytes + ')' : ''; };
    input.addEventListener('change', () => choose(input.files[0] || null));
    for (const ev of ['dragenter', 'dragover']) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add('over'); });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (e) => {
      e.preventDefault(); drop.classList.remove('over');
      if (e.dataTransfer.files.length) choose(e.dataTransfer.files[0]);
    });
    $('verify-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!chosen) { showError(new Error(T.needFile)); return; }
      const button = $('verify-button');
      button.disabled = true;
      try {
        // A capture bundle is checked file by file first; its manifest's
        // SM3 is then verified exactly as a plain file's would be.
        let bundle = null;
        let note = null;
        if (await isZip(chosen)) {
          if (chosen.size > MAX_BUNDLE) note = el('p', { class: 'warn' }, T.bundleTooBig);
          else bundle = await checkBundle(chosen);
        }
        if (bundle && bundle.kind === 'mismatch') {
          // The files by name here; what differs in each is listed below.
          const names = bundle.problems.map((p) => p.split(': ')[0]).join(', ');
          $('result').replaceChildren(verdictBox('VERDICT_TAMPERED', T.bundleBad + ' ' + names), captureBox(bundle));
          return;
        }
        if (bundle && bundle.kind === 'malformed') {
          $('result').replaceChildren(verdictBox('VERDICT_MALFORMED', T.bundleMalformed + bundle.reason), captureBox(bundle));
          return;
        }
        const fp = bundle ? bundle.fingerprint : await sm3File(chosen, progressTo);
        $('result').replaceChildren(el('p', { class: 'state' }, T.asking));
        const id = $('evidence-id').value.trim();
        const q = id ? '?evidence_id=' + encodeURIComponent(id) : '';
        let v = await (await api('/v1/verdicts/' + fp + q)).json();
        if (bundle && !id && bundle.receipt_evidence_id && v.verdict === 'VERDICT_NOT_RECORDED') {
          // The manifest is not recorded; the bundle's receipt names the
          // recording it claims to be (as evidencectl verify asks).
          const byID = await (await api('/v1/verdicts/' + fp + '?evidence_id=' + encodeURIComponent(bundle.receipt_evidence_id))).json();
          if (byID.verdict !== 'VERDICT_NOT_RECORDED') v = byID;
        }
        showVerdict(v, fp);
        if (bundle) $('result').firstChild.after(captureBox(bundle));
        if (note) $('result').prepend(note);
      } catch (err) {
        showError(err);
      } finally {
        button.disabled = false;
      }
    });
    $('lookup-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const id = $('lookup-id').value.trim();
      if (!id) return;
      try {
        // The certificate first: its route applies the role's rule (a
        // lawyer must give the fingerprint) exactly as the API does.
        const cert = await (await api('/v1/evidence/' + encodeURIComponent(id) + '/certificate.json')).json();
        const out = [el('div', { class: 'verdict ok', role: 'status', 'data-verdict': 'FOUND' }, T.found), facts([
          [T.evidence, el('code', {}, cert.evidence_id)],
          [T.fingerprint, el('code', { class: 'hash' }, cert.fingerprint)],
          [T.court, cert.issued_by + ' @ ' + fmtTime(cert.issued_at)],
        ])];
        try {
          const got = await (await api('/v1/evidence/' + encodeURIComponent(id))).json();
          const rec = (got.receipt || got).entry; // the route answers the receipt itself
          out.push(facts([[T.court, rec.court], [T.recorded, fmtTime(rec.accepted_at)], [T.platform, rec.submission.platform],
            [T.category, rec.submission.category], [T.title, rec.submission.title], [T.position, String(rec.index || 0)]]));
        } catch (err) { /* the certificate is what the role may see */ }
        out.push(downloadButtons(cert.evidence_id, ''));
        $('result').replaceChildren(...out);
      } catch (err) { showError(err); }
    });
  }

  // The certificate page: the verifier (WebAssembly) and the trust file
  // are loaded when the page opens, so a check needs no network after.
  function initCertificate() {
    let trust = null;
    let wasmReady = false;
    const button = $('cert-button');
    const ready = () => { button.disabled = !(wasmReady && trust !== null); };
    const setTrust = async (text, origin) => {
      trust = text;
      const h = await hashwasm.sm3(text);
      $('trust-state').textContent = T.trustLoaded + h + ' (' + origin + ')';
      $('trust-state').dataset.sm3 = h;
      ready();
    };
    fetch('/trust.txt', { cache: 'no-store' }).then((r) => r.text()).then((t) => setTrust(t, '/trust.txt')).catch(showError);
    loadVerifier().then((ms) => {
      wasmReady = true;
      $('wasm-state').textContent = T.wasmReady + ' (' + ms + ' ms)';
      $('wasm-state').dataset.ready = 'true';
      $('wasm-state').dataset.loadMs = String(ms);
      ready();
    }).catch(showError);

    const named = (input, label) => input.addEventListener('change', () => {
      const f = input.files[0];
      $(label).textContent = f ? f.name + ' (' + f.size + ' ' + T.bytes + ')' : '';
    });
    named($('cert-file'), 'cert-name');
    named($('orig-file'), 'orig-name');
    for (const id of ['cert-file', 'orig-file']) {
      const label = $(id).closest('label');
      for (const ev of ['dragenter', 'dragover']) label.addEventListener(ev, (e) => { e.preventDefault(); label.classList.add('over'); });
      label.addEventListener('dragleave', () => label.classList.remove('over'));
      label.addEventListener('drop', (e) => {
        e.preventDefault(); label.classList.remove('over');
        if (e.dataTransfer.files.length) { $(id).files = e.dataTransfer.files; $(id).dispatchEvent(new Event('change')); }
      });
    }
    $('trust-file').addEventListener('change', async () => {
      const f = $('trust-file').files[0];
      if (f) await setTrust(await f.text(), f.name);
    });

    $('cert-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const cf = $('cert-file').files[0];
      if (!cf) { showError(new Error(T.needCert)); return; }
      button.disabled = true;
      try {
        const of = $('orig-file').files[0];
        const fp = of ? await sm3File(of, progressTo) : '';
        const t0 = performance.now();
        const raw = new Uint8Array(await cf.arrayBuffer());
        const out = JSON.parse(globalThis.courtledgerVerifyCertificate(raw, trust, fp, Number($('min-witnesses').value) || 0));
        const ms = (performance.now() - t0).toFixed(1);
        if (out.error) throw new Error(out.error);
        showCertResult(out, fp, ms);
      } catch (err) {
        showError(err);
      } finally {
        ready();
      }
    });
  }

  function showCertResult(res, fp, ms) {
    const d = res.details || {};
    const out = [verdictBox(res.verdict, res.reason)];
    out[0].dataset.ms = ms;
    if (d.evidence_id) {
      out.push(facts([
        [T.evidence, el('code', {}, d.evidence_id)],
        [T.recordedFP, el('code', { class: 'hash' }, d.fingerprint)],
        fp ? [T.fingerprint, el('code', { class: 'hash' }, fp)] : ['', ''],
        [T.court, d.court],
        [T.recorded, fmtTime(d.recorded_at)],
        [T.platform, d.platform],
        [T.category, d.category],
        [T.title, d.title],
        [T.position, String(d.index || 0) + ' (' + T.of + ' ' + d.tree_size + ')'],
        [T.batch, d.batch ? d.batch.batch_id + ', ' + T.entry + ' ' + (d.batch.leaf + 1) + ' / ' + d.batch.count : ''],
        [T.witnesses, witnessList(d.witnesses)],
        [T.timestamp, d.timestamp ? (d.timestamp.verified
          ? fmtTime(d.timestamp.time) + ' — ' + d.timestamp.signer + ' (' + d.timestamp.tsa + ')'
          : T.tsNotChecked + ' (' + d.timestamp.tsa + ': ' + (d.timestamp.note || '') + ')') : ''],
        [T.issuer, (d.issued_by || '') + ' @ ' + fmtTime(d.issued_at) + ' — ' + (d.issuer_verified ? T.verified : T.notVerified + (d.issuer_note ? ': ' + d.issuer_note : ''))],
      ]));
    }
    $('result').replaceChildren(...out);
  }

  function initSignin() {
    $('signin-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        const resp = await api('/web/session', {
          method: 'POST', headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ token: $('token').value }),
        });
        const s = await resp.json();
        csrf = s.csrf; who = s;
        $('token').value = '';
        showSession();
        $('result').replaceChildren(el('div', { class: 'verdict ok', role: 'status', 'data-verdict': 'SIGNED_IN' }, T.signedIn + ' ' + s.role + ':' + s.id));
      } catch (err) { showError(err); }
    });
  }

  loadSession().then(() => {
    if (page === 'verify') initVerify();
    if (page === 'certificate') initCertificate();
    if (page === 'signin') initSignin();
    body.dataset.ready = 'true';
  });
})();
