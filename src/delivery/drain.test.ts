import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { countConnections } from './drain.ts';

/** `ss -Htni state established` inside a replica serving on 8080, as this kernel prints it. */
const LISTING = [
  // idle keep-alive: the answer went out (lastsnd 988) after the request came in (lastrcv 992)
  '0      0      [::ffff:198.18.0.9]:8080 [::ffff:198.18.0.3]:33504',
  '\t bbr wscale:10,10 rto:208 rtt:5.401/10.755 bytes_sent:682 bytes_received:558 lastsnd:988 lastrcv:992 lastack:944',
  // a request arrived 4 ms ago, answered last 12 ms ago: in flight
  '0      0      [::ffff:198.18.0.9]:8080 [::ffff:198.18.0.2]:34434',
  '\t bbr wscale:10,10 rto:208 bytes_sent:3865 bytes_received:3140 lastsnd:12 lastrcv:4 lastack:12',
  // an answer sent and not yet acknowledged (the client delays its ACK): done, idle
  '0      341    [::ffff:198.18.0.9]:8080 [::ffff:198.18.0.3]:33506',
  '\t bbr wscale:10,10 rto:220 bytes_sent:8675 bytes_received:7105 lastsnd:36 lastrcv:44 lastack:44',
  // a request received and not read yet: busy whatever the times say
  '120    0      [::ffff:198.18.0.9]:8080 [::ffff:198.18.0.3]:33508',
  '\t bbr wscale:10,10 rto:220 bytes_sent:8675 bytes_received:7105 lastsnd:36 lastrcv:44 lastack:44',
  // just opened, nothing received yet: a request is on its way
  '0      0      [::ffff:198.18.0.9]:8080 [::ffff:198.18.0.2]:34440',
  '\t bbr wscale:10,10 rto:208 bytes_sent:0 lastsnd:5 lastrcv:5 lastack:5',
  // the replica's own connection to its database: not a connection to its ports
  '0      0      198.18.40.2:51022 198.18.40.8:5432',
  '\t cubic wscale:7,7 rto:204 lastsnd:1 lastrcv:900',
].join('\n');

describe('countConnections', () => {
  it('GIVEN keep-alive, in-flight, unacknowledged, unread and fresh connections THEN all but keep-alive and unacknowledged are busy', () => {
    assert.deepEqual(countConnections(LISTING, [8080]), {
      open: 5,
      busy: 3,
      busyPeers: ['198.18.0.2:34434', '198.18.0.3:33508', '198.18.0.2:34440'],
    });
  });

  it('GIVEN a request that was never answered (no lastsnd) THEN it is busy', () => {
    const listing =
      '0      0      198.18.0.9:8080 198.18.0.2:40000\n\t cubic bytes_received:310 lastrcv:3 lastack:3';
    assert.deepEqual(countConnections(listing, [8080]), {
      open: 1,
      busy: 1,
      busyPeers: ['198.18.0.2:40000'],
    });
  });

  it('GIVEN no listing or other ports THEN nothing is open', () => {
    assert.deepEqual(countConnections('', [8080]), { open: 0, busy: 0 });
    assert.deepEqual(countConnections(LISTING, [9090]), { open: 0, busy: 0 });
  });
});
