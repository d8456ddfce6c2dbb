() => {
  // The interface is Arabic: lay the page out right-to-left. Each message still carries its own
  // direction (dir on the message), so English questions and answers read left-to-right.
  document.documentElement.setAttribute("lang", "ar");
  document.documentElement.setAttribute("dir", "rtl");
}
