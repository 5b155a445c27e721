// The try-it page: streams POST /v1/audio/speech as raw PCM and plays each piece as it arrives, or
// fetches another response format whole and lets the browser's own decoder play it.
// Counters live on window.ttsintPage so that tests (and curious people) can read what happened.
"use strict";

const page = {
  voices: 0, requests: 0, responses: 0, chunks: 0, bytes: 0, samples: 0,
  buffersScheduled: 0, firstAudioMs: null, done: 0, errors: 0, lastError: null, scheduledSeconds: 0,
  sampleRate: null, architectures: 0, formats: [], played: {},
};
window.ttsintPage = page;

const $ = (id) => document.getElementById(id);
const voiceSelect = $("voice"), formatSelect = $("format"), speakButton = $("speak"), stopButton = $("stop");
const MEDIA = { mp3: "audio/mpeg", opus: 'audio/ogg; codecs="opus"', aac: "audio/aac", flac: "audio/flac",
                wav: "audio/wav" };
const live = $("live"), overview = $("overview");
let sampleRates = {};
let audio = null, analyser = null, nextStart = 0, controller = null;
let received = [];          // [min, max] per column of the overview, for the whole utterance so far
let receivedSamples = 0;

function setStatus(text) { $("status").textContent = text; }

async function loadVoices() {
  const response = await fetch("/v1/voices");
  const body = await response.json();
  $("voices-json").textContent = JSON.stringify(body, null, 2);
  voiceSelect.innerHTML = "";
  const groups = new Map();  // voices grouped by architecture: the blocks their stacks run
  for (const voice of body.data) {
    if (voice.status !== "ready") continue;
    const arch = voice.architecture || "other";
    if (!groups.has(arch)) {
      const group = document.createElement("optgroup");
      group.label = arch;
      groups.set(arch, group);
      voiceSelect.appendChild(group);
    }
    sampleRates[voice.name] = voice.sample_rate;
    const option = document.createElement("option");
    option.value = voice.name;
    option.textContent = `${voice.name} (${voice.language || "?"}, ${voice.sample_rate / 1000} kHz)`;
    groups.get(arch).appendChild(option);
    page.voices += 1;
  }
  page.architectures = groups.size;
  const waiting = body.data.filter((v) => v.status === "loading" || v.status === "pending").length;
  voiceSelect.disabled = speakButton.disabled = page.voices === 0;
  setStatus(page.voices ? "ready" : waiting ? "voices loading" : "no voice is ready");
  if (!page.voices && waiting) setTimeout(loadVoices, 1000);
}

function ensureAudio() {
  if (!audio) {
    audio = new AudioContext({ latencyHint: "interactive" });
    analyser = audio.createAnalyser();
    analyser.fftSize = 2048;
    analyser.connect(audio.destination);
    requestAnimationFrame(drawLive);
  }
  if (audio.state === "suspended") audio.resume();
  return audio;
}

// Int16 little-endian PCM -> AudioBuffer at the response's rate (the context resamples on playback).
function schedule(pcm, sampleRate) {
  const samples = new Float32Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 32768;
  const buffer = audio.createBuffer(1, samples.length, sampleRate);
  buffer.copyToChannel(samples, 0);
  const source = audio.createBufferSource();
  source.buffer = buffer;
  source.connect(analyser);
  const startAt = Math.max(nextStart, audio.currentTime + 0.05);
  source.start(startAt);
  nextStart = startAt + buffer.duration;
  page.buffersScheduled += 1;
  page.scheduledSeconds += buffer.duration;
  addToOverview(samples);
}

function loadFormats() {
  // pcm streams into Web Audio as it arrives; the others play when the browser can decode them.
  const probe = document.createElement("audio");
  page.formats = ["pcm", ...Object.keys(MEDIA).filter((f) => probe.canPlayType(MEDIA[f]) !== "")];
  formatSelect.innerHTML = "";
  for (const name of page.formats) {
    const option = document.createElement("option");
    option.value = name;
    option.textContent = name === "pcm" ? "pcm (streamed)" : name;
    formatSelect.appendChild(option);
  }
}

async function speakWhole(format, voice, began) {
  // Another format: the whole response, decoded by the browser's own decoder, then played.
  const response = await request(format, voice);
  const data = await response.arrayBuffer();
  page.bytes += data.byteLength;
  let buffer;
  try {
    buffer = await audio.decodeAudioData(data);
  } catch (error) {
    throw new Error(`the browser could not decode ${format}: ${error.message || error}`);
  }
  const source = audio.createBufferSource();
  source.buffer = buffer;
  source.connect(analyser);
  source.start();
  page.played[format] = buffer.duration;
  page.firstAudioMs = performance.now() - began;
  $("ttfa").textContent = `${page.firstAudioMs.toFixed(0)} ms (whole ${format})`;
  $("received").textContent = `${buffer.duration.toFixed(1)} s`;
}

async function request(format, voice) {
  const response = await fetch("/v1/audio/speech", {
    method: "POST", signal: controller.signal, headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ model: "tts-1", voice, input: $("text").value, response_format: format,
                           speed: Number($("speed").value) }),
  });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.error ? body.error.message : `HTTP ${response.status}`);
  }
  page.responses += 1;
  return response;
}

async function speak(event) {
  event.preventDefault();
  const voice = voiceSelect.value, format = formatSelect.value || "pcm";
  ensureAudio();
  nextStart = 0; received = []; receivedSamples = 0; drawOverview();
  controller = new AbortController();
  speakButton.disabled = true; stopButton.disabled = false;
  setStatus("speaking"); $("ttfa").textContent = "…"; $("received").textContent = "0.0 s";
  const began = performance.now();
  page.requests += 1;
  try {
    if (format !== "pcm") {
      await speakWhole(format, voice, began);
      page.done += 1;
      setStatus("done");
      return;
    }
    const response = await request("pcm", voice);
    // OpenAI's pcm is 24 kHz; the server states the rate it sends.
    const sampleRate = Number(response.headers.get("x-sample-rate")) || 24000;
    page.sampleRate = sampleRate;
    const reader = response.body.getReader();
    let carry = null;            // an odd byte left over between network chunks
    let heard = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      page.chunks += 1; page.bytes += value.length;
      let bytes = value;
      if (carry !== null) { bytes = new Uint8Array(value.length + 1); bytes[0] = carry; bytes.set(value, 1); carry = null; }
      if (bytes.length % 2) { carry = bytes[bytes.length - 1]; bytes = bytes.subarray(0, bytes.length - 1); }
      if (!bytes.length) continue;
      const pcm = new Int16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
      schedule(pcm, sampleRate);
      page.samples += pcm.length;
      if (!heard) {
        heard = true;
        page.firstAudioMs = performance.now() - began;
        $("ttfa").textContent = `${page.firstAudioMs.toFixed(0)} ms`;
      }
      $("received").textContent = `${(receivedSamples / sampleRate).toFixed(1)} s`;
    }
    page.done += 1;
    setStatus("done");
  } catch (error) {
    if (error.name === "AbortError") { setStatus("stopped"); }
    else { page.errors += 1; page.lastError = String(error.message || error); setStatus(page.lastError); }
  } finally {
    speakButton.disabled = false; stopButton.disabled = true; controller = null;
  }
}

function stop() {
  if (controller) controller.abort();
  if (audio) { audio.close(); audio = null; analyser = null; }
}

function addToOverview(samples) {
  const perColumn = 200;  // samples per column: 80 columns a second at 16 kHz
  for (let i = 0; i < samples.length; i += perColumn) {
    let lo = 0, hi = 0;
    for (let j = i; j < Math.min(i + perColumn, samples.length); j++) {
      lo = Math.min(lo, samples[j]); hi = Math.max(hi, samples[j]);
    }
    received.push([lo, hi]);
  }
  receivedSamples += samples.length;
  drawOverview();
}

function drawOverview() {
  const g = overview.getContext("2d"), w = overview.width, h = overview.height;
  g.clearRect(0, 0, w, h);
  g.fillStyle = "#2f6fde";
  const columns = Math.max(received.length, w);
  const scale = w / columns;
  received.forEach(([lo, hi], x) => {
    g.fillRect(x * scale, h / 2 - hi * h / 2, Math.max(scale, 1), Math.max((hi - lo) * h / 2, 1));
  });
}

function drawLive() {
  if (!analyser) return;
  const g = live.getContext("2d"), w = live.width, h = live.height;
  const data = new Float32Array(analyser.fftSize);
  analyser.getFloatTimeDomainData(data);
  g.clearRect(0, 0, w, h);
  g.strokeStyle = "#2f6fde"; g.lineWidth = 2; g.beginPath();
  for (let i = 0; i < data.length; i++) {
    const x = i * w / data.length, y = h / 2 - data[i] * h / 2;
    if (i) g.lineTo(x, y); else g.moveTo(x, y);
  }
  g.stroke();
  requestAnimationFrame(drawLive);
}

$("speak-form").addEventListener("submit", speak);
stopButton.addEventListener("click", stop);
$("speed").addEventListener("input", () => { $("speed-value").textContent = `${Number($("speed").value).toFixed(2)}×`; });
loadFormats();
loadVoices().catch((error) => { page.errors += 1; page.lastError = String(error); setStatus(String(error)); });
