// Signs webhook payloads with Stripe's official Node SDK, the way Stripe
// itself signs deliveries: reads [{payload, secret, timestamp}] as JSON on
// stdin, prints the Stripe-Signature headers as a JSON array.
// Usage: node stripe_sign.js <path to node_modules/stripe>
const Stripe = require(process.argv[2]);
const stripe = new Stripe('sk_test_e2e_not_used');
let input = '';
process.stdin.on('data', (d) => (input += d));
process.stdin.on('end', () => {
  const jobs = JSON.parse(input);
  const headers = jobs.map((j) =>
    stripe.webhooks.generateTestHeaderString({payload: j.payload, secret: j.secret, timestamp: j.timestamp}));
  process.stdout.write(JSON.stringify(headers));
});
