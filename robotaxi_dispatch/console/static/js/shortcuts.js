// Keyboard shortcuts of the control room; none fires while the operator types in a field.

export const SHORTCUTS = [
  ["/", "find"], ["f", "fit"], ["+", "zoom_in"], ["=", "zoom_in"], ["-", "zoom_out"],
  ["ArrowLeft", "pan_left"], ["ArrowRight", "pan_right"], ["ArrowUp", "pan_up"], ["ArrowDown", "pan_down"],
  ["h", "heatmap"], ["m", "moves"], ["a", "alerts"], ["l", "language"], ["Escape", "close"], ["?", "help"],
];
const ACTIONS = new Map(SHORTCUTS);
const TYPING = new Set(["INPUT", "TEXTAREA", "SELECT"]);

/** Return the action a key press asks for, or null. */
export function actionFor(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return null;
  if (event.target && TYPING.has(event.target.tagName)) return event.key === "Escape" ? "close" : null;
  return ACTIONS.get(event.key.length === 1 ? event.key.toLowerCase() : event.key) ?? null;
}

const LABELS = { ArrowLeft: "←", ArrowRight: "→", ArrowUp: "↑", ArrowDown: "↓", Escape: "Esc" };

/** Return the keys of each action as shown in the help list: [[action, "+ ="], ...] in first-seen order. */
export function keysByAction() {
  const keys = new Map();
  for (const [key, action] of SHORTCUTS) {
    const label = LABELS[key] || key;
    keys.set(action, keys.has(action) ? `${keys.get(action)} ${label}` : label);
  }
  return [...keys];
}
