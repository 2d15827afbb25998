// An SMSC over TLS for ereceipt's tests, on the npm package `smpp` (node-smpp): an SMPP
// implementation that shares nothing with the Rust client it checks, neither codec nor TLS stack.
//
//   node smsc.js --key KEY.pem --cert CERT.pem --system-id ID --password PW
//
// Listens on 127.0.0.1 (a free port) and prints one JSON object a line on stdout:
// {"event":"listening","port":N} once bound, then "bind", "submit_sm", "unbind" and
// "tls_error" events. Accepts the one account, answers enquire_link, gives each submit_sm a
// message_id. Ends when stdin closes (the test dropped it).
'use strict';
const fs = require('fs');
const smpp = require('smpp');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) {
  args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
}
for (const name of ['key', 'cert', 'system-id', 'password']) {
  if (args[name] === undefined) {
    console.error(`smsc.js: --${name} is required`);
    process.exit(2);
  }
}

const emit = (event) => process.stdout.write(JSON.stringify(event) + '\n');
let nextId = 0x5000;

const server = smpp.createServer(
  { key: fs.readFileSync(args.key), cert: fs.readFileSync(args.cert) },
  (session) => {
    let bound = false;
    session.on('error', (e) => emit({ event: 'error', message: String(e && e.message) }));
    const bind = (pdu) => {
      const ok = pdu.system_id === args['system-id'] && pdu.password === args.password;
      emit({ event: 'bind', command: pdu.command, system_id: pdu.system_id, ok });
      bound = ok;
      session.send(pdu.response({ command_status: ok ? 0 : smpp.ESME_RINVPASWD }));
    };
    session.on('bind_transmitter', bind);
    session.on('bind_transceiver', bind);
    session.on('submit_sm', (pdu) => {
      if (!bound) {
        session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
        return;
      }
      const messageId = (nextId++).toString(16).toUpperCase();
      const sm = pdu.short_message || {};
      emit({
        event: 'submit_sm',
        source_addr: pdu.source_addr,
        destination_addr: pdu.destination_addr,
        dest_addr_ton: pdu.dest_addr_ton,
        data_coding: pdu.data_coding,
        esm_class: pdu.esm_class,
        udh: (sm.udh || []).map((b) => Array.from(b)),
        message: typeof sm.message === 'string' ? sm.message : String(sm.message),
        message_id: messageId,
      });
      session.send(pdu.response({ message_id: messageId }));
    });
    session.on('enquire_link', (pdu) => session.send(pdu.response()));
    session.on('unbind', (pdu) => {
      emit({ event: 'unbind' });
      session.send(pdu.response());
      session.close();
    });
  },
);
server.on('tlsClientError', (e) => emit({ event: 'tls_error', message: String(e && e.message) }));
server.listen(0, '127.0.0.1', () => emit({ event: 'listening', port: server.address().port }));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
