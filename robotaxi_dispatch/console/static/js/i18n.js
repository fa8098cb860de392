// The console's strings, from the app's gettext catalogues (context "console"), with {name} parameters.

export const LANGUAGES = { zh: "zh-CN", en: "en" };

/** Pick the first language: the one saved, else the browser's. */
export function initialLanguage(saved, browserLanguage = "") {
  if (saved === "zh" || saved === "en") return saved;
  return browserLanguage.toLowerCase().startsWith("zh") ? "zh" : "en";
}

/** Return a translator for a language: t(key, params) falls back to English, then to the key. */
export function translator(catalogue, lang) {
  const own = catalogue[LANGUAGES[lang]] || {}, english = catalogue.en || {};
  return (key, params = {}) => {
    const text = own[key] ?? english[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
  };
}
