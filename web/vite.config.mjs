// The dashboard is built into web/dist and served by the control plane (src/server/routes/dashboard.ts).
// Everything is bundled: no CDN, no web fonts, so it works on a host without internet access.
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
  server: { proxy: { '/v1': 'http://127.0.0.1:7420' } },
});
