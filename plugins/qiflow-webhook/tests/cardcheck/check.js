// Parse and validate Adaptive Cards with the Adaptive Cards JavaScript library.
// Reads a JSON list of cards on standard input; writes a JSON list with, for each card,
// every parse and validation warning the library raised and the card as the library
// serialises it back (a property it did not understand is missing there).
"use strict";
const AC = require("adaptivecards/dist/adaptivecards.js");

const cards = JSON.parse(require("fs").readFileSync(0, "utf8"));
const results = cards.map((input) => {
    const card = new AC.AdaptiveCard();
    const context = new AC.SerializationContext();
    card.parse(input, context);
    const events = [];
    for (let i = 0; i < context.eventCount; i++) {
        const e = context.getEventAt(i);
        events.push({ phase: "parse", event: AC.ValidationEvent[e.event], message: e.message });
    }
    for (const e of card.validateProperties().validationEvents) {
        events.push({ phase: "validate", event: AC.ValidationEvent[e.event], message: e.message });
    }
    return { events: events, roundtrip: card.toJSON() };
});
process.stdout.write(JSON.stringify(results));
