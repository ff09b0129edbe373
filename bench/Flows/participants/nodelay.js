// Preloaded with `node -r` to turn Nagle's algorithm off on every socket a participant opens. Stock msgflo-nodejs
// leaves it on (amqplib calls setNoDelay(false) unless told otherwise), which caps a pipeline near 46 messages/s.
const net = require('net');
const setNoDelay = net.Socket.prototype.setNoDelay;
net.Socket.prototype.setNoDelay = function () {
  return setNoDelay.call(this, true);
};
