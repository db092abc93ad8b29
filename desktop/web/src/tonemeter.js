// What the page hears, by content: WebAudio reads the remote MediaStream, and each
// window of samples gets a Goertzel filter at the frequency asked for. The page can
// show it as a level meter; the browser tests use it to assert "the agent hears the
// caller's tone" rather than "some packets arrived".
//
// Chromium plays a remote WebRTC stream into WebAudio only while the stream is also
// attached to a media element (the softphone's audioElement is), so measure a stream
// that is playing.

/** The share (0..1) of a window's power that a sine at `freqHz` carries, with a Hann
 * window: 1 for a pure tone at that frequency, near 0 for silence or another tone. */
export function toneShare(samples, freqHz, sampleRate) {
  const n = samples.length;
  const coefficient = 2 * Math.cos((2 * Math.PI * freqHz) / sampleRate);
  let s1 = 0;
  let s2 = 0;
  let sumW = 0;
  let sumW2 = 0;
  let energy = 0;
  for (let i = 0; i < n; i++) {
    const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1));
    const x = w * samples[i];
    sumW += w;
    sumW2 += w * w;
    energy += x * x;
    const s0 = x + coefficient * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  if (energy <= 1e-12) return 0;
  const power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
  // A pure sine of amplitude A: power = A²(Σw)²/4 and energy = A²Σw²/2.
  return Math.min(1, (2 * power * sumW2) / (sumW * sumW * energy));
}

export class ToneMeter {
  constructor(stream, { fftSize = 4096 } = {}) {
    this.context = new AudioContext();
    this.source = this.context.createMediaStreamSource(stream);
    this.analyser = this.context.createAnalyser();
    this.analyser.fftSize = fftSize;
    this.analyser.smoothingTimeConstant = 0;
    this.source.connect(this.analyser);
    this.samples = new Float32Array(fftSize);
    this.spectrum = new Float32Array(this.analyser.frequencyBinCount);
  }

  /** One window now: {rms, levelDb, dominantHz, share} (share: of `freqHz`, if given). */
  sample(freqHz) {
    this.analyser.getFloatTimeDomainData(this.samples);
    this.analyser.getFloatFrequencyData(this.spectrum);
    let energy = 0;
    for (const x of this.samples) energy += x * x;
    const rms = Math.sqrt(energy / this.samples.length);
    let best = 0;
    for (let i = 1; i < this.spectrum.length; i++) {
      if (this.spectrum[i] > this.spectrum[best]) best = i;
    }
    const rate = this.context.sampleRate;
    return {
      rms,
      levelDb: rms > 0 ? 20 * Math.log10(rms) : -Infinity,
      dominantHz: (best * rate) / this.analyser.fftSize,
      share: freqHz ? toneShare(this.samples, freqHz, rate) : 0,
    };
  }

  /** Windows every `intervalMs` for `durationMs`: how many carried the tone at
   * `freqHz` (share ≥ `minShare` and level above `minLevelDb`), the median dominant
   * frequency and the loudest level. */
  async measure({ freqHz, durationMs = 1000, intervalMs = 100, minShare = 0.5, minLevelDb = -50 }) {
    if (this.context.state !== 'running') await this.context.resume();
    const windows = [];
    const end = performance.now() + durationMs;
    while (performance.now() < end) {
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
      windows.push(this.sample(freqHz));
    }
    const toneWindows = windows.filter((w) => w.share >= minShare && w.levelDb >= minLevelDb);
    const dominant = windows.map((w) => w.dominantHz).sort((a, b) => a - b);
    return {
      windows: windows.length,
      toneWindows: toneWindows.length,
      toneFraction: windows.length ? toneWindows.length / windows.length : 0,
      dominantHz: dominant.length ? dominant[Math.floor(dominant.length / 2)] : 0,
      maxLevelDb: Math.max(-Infinity, ...windows.map((w) => w.levelDb)),
      maxShare: Math.max(0, ...windows.map((w) => w.share)),
    };
  }

  close() {
    this.source.disconnect();
    return this.context.close();
  }
}
