// A form that does something hard to undo (cancel an alert, remove a member or a user)
// asks first; the question is the form's data-confirm text. Without JavaScript, it is sent.
"use strict";
document.addEventListener("submit", (event) => {
  const question = event.target.dataset ? event.target.dataset.confirm : undefined;
  if (question && !window.confirm(question)) event.preventDefault();
});
