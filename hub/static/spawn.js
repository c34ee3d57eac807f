// Spawn page: highlight the chosen profile card and enable only its options (works without JS too:
// the server ignores options of profiles that were not chosen).
(function () {
  var cards = document.querySelectorAll('.profile-card');
  function update() {
    cards.forEach(function (card) {
      var radio = card.querySelector('input[type=radio]');
      card.classList.toggle('selected', radio.checked);
      card.querySelectorAll('select, input.unlisted').forEach(function (el) { el.disabled = !radio.checked; });
    });
  }
  cards.forEach(function (card) {
    card.querySelector('input[type=radio]').addEventListener('change', update);
    card.addEventListener('click', function (e) {
      if (e.target.closest('select, input')) return;
      card.querySelector('input[type=radio]').checked = true; update();
    });
  });
  update();
})();
