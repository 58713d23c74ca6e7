import { applyI18n, setupLangToggle } from "./i18n.js";

applyI18n();
setupLangToggle(document.getElementById("lang"));
