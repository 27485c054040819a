// Shows that scripts are served with a JavaScript content type.
document.getElementById("clock").textContent =
  "JavaScript ran at " + new Date().toLocaleTimeString() + ".";
