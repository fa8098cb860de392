// The last hour's chart: requests per bucket (bars, left axis) and mean pickup wait (line, right axis, minutes).

const CITY_TIME = new Intl.DateTimeFormat("en-GB", { timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit",
  hourCycle: "h23" });

/** Return round tick values from 0 covering `top`: steps of 1, 2 or 5 times a power of ten. */
export function niceTicks(top, count = 4) {
  if (!(top > 0)) return [0, 1];
  const raw = top / count, power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const ticks = [];
  for (let v = 0; v < top + step - 1e-9; v += step) ticks.push(Math.round(v * 1e6) / 1e6);
  return ticks;
}

/** Return a moment as HH:MM in Chongqing. */
export const clock = (iso) => CITY_TIME.format(new Date(iso));

/** Return where everything of the chart goes in a canvas of `width` x `height` px. */
export function chartLayout(buckets, { width, height }) {
  const plot = { x: 34, y: 8, w: width - 34 - 34, h: height - 8 - 20 };
  const counts = niceTicks(Math.max(0, ...buckets.map((b) => b.requests)));
  const waits = niceTicks(Math.max(0, ...buckets.map((b) => (b.mean_pickup_wait_s || 0) / 60)));
  const countTop = counts[counts.length - 1], waitTop = waits[waits.length - 1];
  const slot = plot.w / Math.max(1, buckets.length), yOf = (v, top) => plot.y + plot.h - (v / top) * plot.h;
  const bars = buckets.map((b, i) => ({ x: plot.x + i * slot + 1, y: yOf(b.requests, countTop), w: Math.max(1, slot - 2),
    h: plot.y + plot.h - yOf(b.requests, countTop) }));
  const line = buckets.map((b, i) => (b.mean_pickup_wait_s == null ? null
    : [plot.x + (i + 0.5) * slot, yOf(b.mean_pickup_wait_s / 60, waitTop)]));
  const every = Math.max(1, Math.ceil(buckets.length / 4));
  return {
    plot, bars, line,
    left: counts.map((v) => ({ y: yOf(v, countTop), label: String(v) })),
    right: waits.map((v) => ({ y: yOf(v, waitTop), label: String(v) })),
    times: buckets.map((b, i) => ({ x: plot.x + i * slot, label: clock(b.start) })).filter((_, i) => i % every === 0),
  };
}

/** Draw the chart with its axes, units and gridlines. */
export function drawChart(ctx, layout, { bars, line, axis, ink }) {
  const { plot } = layout;
  ctx.font = "11px system-ui, sans-serif"; ctx.lineWidth = 1;
  ctx.strokeStyle = axis; ctx.fillStyle = ink; ctx.textBaseline = "middle";
  for (const tick of layout.left) {
    ctx.globalAlpha = 0.35; ctx.beginPath(); ctx.moveTo(plot.x, tick.y); ctx.lineTo(plot.x + plot.w, tick.y); ctx.stroke();
    ctx.globalAlpha = 1; ctx.textAlign = "right"; ctx.fillText(tick.label, plot.x - 4, tick.y);
  }
  ctx.textAlign = "left";
  for (const tick of layout.right) ctx.fillText(tick.label, plot.x + plot.w + 4, tick.y);
  ctx.textAlign = "center"; ctx.textBaseline = "top";
  for (const tick of layout.times) ctx.fillText(tick.label, tick.x, plot.y + plot.h + 5);
  ctx.beginPath(); ctx.moveTo(plot.x, plot.y); ctx.lineTo(plot.x, plot.y + plot.h); ctx.lineTo(plot.x + plot.w, plot.y + plot.h);
  ctx.lineTo(plot.x + plot.w, plot.y); ctx.stroke();
  ctx.fillStyle = bars;
  for (const b of layout.bars) ctx.fillRect(b.x, b.y, b.w, b.h);
  ctx.strokeStyle = line; ctx.lineWidth = 2; ctx.beginPath();
  let drawing = false;
  for (const point of layout.line) {
    if (!point) { drawing = false; continue; }
    if (drawing) ctx.lineTo(...point); else ctx.moveTo(...point);
    drawing = true;
  }
  ctx.stroke();
}
