/* global require, module, process, __dirname */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS preload: require is the point */
'use strict';
/**
 * Where Rampart's native context module is built (scripts/build-native.mjs) and loads from: one
 * file per platform, architecture and Node ABI, so a Node upgrade never loads a stale build.
 */
const path = require('node:path');

function nativeContextPath() {
  return path.join(
    __dirname,
    'build',
    `context-${process.platform}-${process.arch}-abi${process.versions.modules}.node`,
  );
}

/** The module (`{ get, set }`), or undefined when it is not built or does not load. */
function loadNativeContext() {
  try {
    const slot = require(nativeContextPath());
    return typeof slot.get === 'function' && typeof slot.set === 'function' ? slot : undefined;
  } catch {
    return undefined;
  }
}

module.exports = { nativeContextPath, loadNativeContext };
