// G.711 only, end to end: rtpengine then never transcodes (Opus <-> G.711 would cost
// CPU per call and add delay). Every SDP the softphone sends or applies goes through
// keepG711: the browser's offers and answers lose every codec but PCMU, PCMA and
// telephone-event/8000 (RFC 4733 DTMF at G.711's clock), and a remote offer is cut the
// same way before the browser answers it, so its answer cannot pick anything else.
// Video sections are refused (port 0): the desktop is audio only.

const KEEP = new Set(['pcmu/8000', 'pcma/8000', 'telephone-event/8000']);
const STATIC_G711 = new Set(['0', '8']);

function splitSections(sdp) {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const lines = sdp.split(/\r?\n/);
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  const sections = [[]];
  for (const line of lines) {
    if (line.startsWith('m=')) sections.push([]);
    sections[sections.length - 1].push(line);
  }
  return { eol, sections };
}

function payloadOf(line, attribute) {
  const match = new RegExp(`^a=${attribute}:(\\d+)[ /]`).exec(line);
  return match ? match[1] : null;
}

function keepAudioCodecs(section) {
  const [mline, ...rest] = section;
  const fields = mline.split(' ');
  const offered = fields.slice(3);
  const names = new Map();
  for (const line of rest) {
    const pt = payloadOf(line, 'rtpmap');
    if (pt !== null) names.set(pt, line.slice(line.indexOf(' ') + 1).trim().toLowerCase());
  }
  const kept = offered.filter((pt) => {
    const name = names.get(pt);
    return name === undefined ? STATIC_G711.has(pt) : KEEP.has(name.split('/').slice(0, 2).join('/'));
  });
  // Telephone-event alone is no call: leave a section without G.711 as it is and let
  // the far end refuse it with a clear 488 rather than send an SDP without audio.
  if (!kept.some((pt) => pt === '0' || pt === '8' || /^pcm[ua]\//.test(names.get(pt) || ''))) {
    return section;
  }
  const dropped = new Set(offered.filter((pt) => !kept.includes(pt)));
  const body = rest.filter((line) => {
    for (const attribute of ['rtpmap', 'fmtp', 'rtcp-fb']) {
      const pt = payloadOf(line, attribute);
      if (pt !== null) return !dropped.has(pt);
    }
    return true;
  });
  return [[...fields.slice(0, 3), ...kept].join(' '), ...body];
}

function refuseMedia(section) {
  const fields = section[0].split(' ');
  fields[1] = '0';
  return [fields.join(' '), ...section.slice(1)];
}

/** The SDP with only G.711 (PCMU, PCMA) and telephone-event/8000 in its audio, and
 * any other media refused. */
export function keepG711(sdp) {
  if (typeof sdp !== 'string' || !sdp.includes('m=')) return sdp;
  const { eol, sections } = splitSections(sdp);
  const out = sections.map((section, index) => {
    if (index === 0) return section;
    if (section[0].startsWith('m=audio ')) return keepAudioCodecs(section);
    return refuseMedia(section);
  });
  return out.flat().join(eol) + eol;
}

/** The codec names (lower case, e.g. "pcmu/8000") that an SDP's audio offers. */
export function audioCodecs(sdp) {
  const { sections } = splitSections(sdp);
  const audio = sections.find((s) => s[0] && s[0].startsWith('m=audio '));
  if (!audio) return [];
  const pts = audio[0].split(' ').slice(3);
  const names = new Map();
  for (const line of audio) {
    const pt = payloadOf(line, 'rtpmap');
    if (pt !== null) names.set(pt, line.slice(line.indexOf(' ') + 1).trim().toLowerCase());
  }
  return pts.map((pt) => names.get(pt) || (pt === '0' ? 'pcmu/8000' : pt === '8' ? 'pcma/8000' : pt));
}
