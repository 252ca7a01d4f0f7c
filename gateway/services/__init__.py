"""Use cases: claims, operations, routing, events. Controllers call these; these call ports."""
