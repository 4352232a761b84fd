/* The sandbox's map picker: makes the city map drawn by sandbox/map.py (an inline <svg> of
 * path.ward elements with data-code/data-name, and data-lon0/-lat0/-scale-x/-scale-y saying
 * its projection) something to pick a point on, with no tiles and no library.
 *
 *   const map = LoaMap.attach(svg, onPick, {titles: {zoomIn, zoomOut, reset}});
 *
 * The mouse wheel (and a touchpad's scroll or pinch) zooms around the pointer, and the +, − and
 * ⌂ buttons (added after the svg in div.loa-map-controls) zoom around the centre or show the
 * whole city again; zooming only changes the viewBox. Dragging (mouse, pen or one finger) pans,
 * two fingers pinch-zoom. A click or tap that did not move places the pin (circle.pin) and calls
 * onPick({latitude, longitude, code, name}), code and name being the ward's under the point
 * (null outside every ward). `map.reset()` shows the whole city, `map.clearPin()` removes the pin.
 */
(function () {
  'use strict';
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const MAX_ZOOM = 40; // the smallest view is the whole city's width / MAX_ZOOM
  const DRAG_PX = 5; // a press that moves farther than this is a drag, not a click
  const PIN_PX = 7; // the pin's radius on screen, whatever the zoom

  function attach(svg, onPick, options) {
    const titles = Object.assign({zoomIn: 'Zoom in', zoomOut: 'Zoom out', reset: 'Whole city'},
      (options && options.titles) || {});
    const data = svg.dataset;
    const lon0 = parseFloat(data.lon0), lat0 = parseFloat(data.lat0);
    const scaleX = parseFloat(data.scaleX), scaleY = parseFloat(data.scaleY);
    const base = svg.viewBox.baseVal;
    const full = {x: base.x, y: base.y, width: base.width, height: base.height};
    let view = Object.assign({}, full);
    let pin = null;

    function unitsPerPixel() {
      const ctm = svg.getScreenCTM();
      return ctm && ctm.a ? 1 / ctm.a : view.width / 300;
    }
    function toSvg(clientX, clientY, inverse) {
      const point = svg.createSVGPoint();
      point.x = clientX;
      point.y = clientY;
      return point.matrixTransform(inverse || svg.getScreenCTM().inverse());
    }
    function setView(x, y, width) {
      width = Math.min(full.width, Math.max(full.width / MAX_ZOOM, width));
      const height = width * full.height / full.width;
      // Keep the view's centre over the city.
      x = Math.min(full.x + full.width - width / 2, Math.max(full.x - width / 2, x));
      y = Math.min(full.y + full.height - height / 2, Math.max(full.y - height / 2, y));
      view = {x: x, y: y, width: width, height: height};
      svg.setAttribute('viewBox', [x, y, width, height].join(' '));
      if (pin) pin.setAttribute('r', PIN_PX * unitsPerPixel());
    }
    function zoomAt(point, factor) { // factor < 1 zooms in
      const width = Math.min(full.width, Math.max(full.width / MAX_ZOOM, view.width * factor));
      const f = width / view.width;
      setView(point.x - (point.x - view.x) * f, point.y - (point.y - view.y) * f, width);
    }
    const zoomCentre = (factor) =>
      zoomAt({x: view.x + view.width / 2, y: view.y + view.height / 2}, factor);
    const reset = () => setView(full.x, full.y, full.width);

    function pick(clientX, clientY) {
      const point = toSvg(clientX, clientY);
      const hit = document.elementFromPoint(clientX, clientY);
      const ward = hit && hit.closest ? hit.closest('.ward') : null;
      const inside = ward && svg.contains(ward);
      if (!pin) pin = svg.appendChild(document.createElementNS(SVG_NS, 'circle'));
      Object.entries({'class': 'pin', 'pointer-events': 'none', fill: '#dc2626', stroke: '#fff',
        'stroke-width': 2, 'vector-effect': 'non-scaling-stroke', cx: point.x, cy: point.y,
        r: PIN_PX * unitsPerPixel()}).forEach(([name, value]) => pin.setAttribute(name, value));
      onPick({
        latitude: Number((lat0 - point.y / scaleY).toFixed(6)),
        longitude: Number((lon0 + point.x / scaleX).toFixed(6)),
        code: inside ? ward.getAttribute('data-code') : null,
        name: inside ? ward.getAttribute('data-name') : null,
      });
    }

    // Pointers: one pans (or clicks, if it hardly moved), two pinch.
    const pointers = new Map();
    let press = null; // {x, y, inverse, view, moved} of the pointer that pans
    let spread = 0; // the distance between two pinching pointers
    function startPress(x, y, moved) {
      press = {x: x, y: y, inverse: svg.getScreenCTM().inverse(), view: view, moved: moved};
    }
    function distance() {
      const [a, b] = Array.from(pointers.values());
      return Math.hypot(a.x - b.x, a.y - b.y) || 1;
    }
    svg.addEventListener('pointerdown', (event) => {
      if (event.button !== 0 || pointers.size >= 2) return;
      svg.setPointerCapture(event.pointerId);
      pointers.set(event.pointerId, {x: event.clientX, y: event.clientY});
      if (pointers.size === 1) startPress(event.clientX, event.clientY, false);
      else { press.moved = true; spread = distance(); }
    });
    svg.addEventListener('pointermove', (event) => {
      if (!pointers.has(event.pointerId)) return;
      pointers.set(event.pointerId, {x: event.clientX, y: event.clientY});
      if (pointers.size === 2) {
        const [a, b] = Array.from(pointers.values());
        const now = distance();
        zoomAt(toSvg((a.x + b.x) / 2, (a.y + b.y) / 2), spread / now);
        spread = now;
      } else if (press) {
        if (Math.hypot(event.clientX - press.x, event.clientY - press.y) > DRAG_PX) {
          press.moved = true;
          svg.classList.add('dragging');
        }
        if (!press.moved) return;
        const from = toSvg(press.x, press.y, press.inverse);
        const to = toSvg(event.clientX, event.clientY, press.inverse);
        setView(press.view.x - (to.x - from.x), press.view.y - (to.y - from.y), press.view.width);
      }
    });
    function release(event) {
      if (!pointers.delete(event.pointerId)) return;
      if (pointers.size === 1) { // the end of a pinch: the other finger pans from here
        const [rest] = Array.from(pointers.values());
        startPress(rest.x, rest.y, true);
      } else if (pointers.size === 0) {
        if (event.type === 'pointerup' && press && !press.moved) pick(event.clientX, event.clientY);
        press = null;
        svg.classList.remove('dragging');
      }
    }
    svg.addEventListener('pointerup', release);
    svg.addEventListener('pointercancel', release);
    svg.addEventListener('wheel', (event) => {
      event.preventDefault();
      const lines = event.deltaMode === 1 ? 16 : event.deltaMode === 2 ? 400 : 1;
      // A touchpad's pinch comes as a wheel event with ctrlKey and small deltas.
      const factor = Math.exp(event.deltaY * lines * (event.ctrlKey ? 0.01 : 0.002));
      zoomAt(toSvg(event.clientX, event.clientY), factor);
    }, {passive: false});
    svg.style.touchAction = 'none'; // the page must not scroll or zoom under a finger

    const controls = document.createElement('div');
    controls.className = 'loa-map-controls';
    [['zoom-in', '+', titles.zoomIn, () => zoomCentre(1 / 1.6)],
      ['zoom-out', '−', titles.zoomOut, () => zoomCentre(1.6)],
      ['reset', '⌂', titles.reset, reset],
    ].forEach(([name, text, title, action]) => {
      const button = Object.assign(document.createElement('button'),
        {type: 'button', className: name, textContent: text, title: title});
      button.setAttribute('aria-label', title);
      button.addEventListener('click', action);
      controls.appendChild(button);
    });
    svg.insertAdjacentElement('afterend', controls);

    return {reset: reset, clearPin: () => { if (pin) pin.remove(); pin = null; }};
  }

  window.LoaMap = {attach: attach};
})();
