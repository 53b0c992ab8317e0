// Package trigger defines the messages of cx.triggers and the rules that
// produce them: a customer entered or left a segment, changed lifecycle
// stage, abandoned a cart, is due a follow-up, or gave negative feedback.
// The value of a message is a [Trigger] (schemas/trigger.schema.json), its
// key the profile id, its headers [HeaderTenant] and [HeaderType].
//
// The package is pure: the resolver calls it with one event or one
// profile state and keeps whatever is pending (carts, follow-ups) itself.
//
//   - Per event: [CartActivity] and [CartOf] start or replace the profile's
//     pending [Cart]; an order ([IsOrder]) closes it ([Cart.ClosedBy], or
//     as a bound on due times for a timer store, [CartConfig.Closes]);
//     [FollowUpsFor] schedules [FollowUp]s, which the rule's cancelling
//     event cancels ([FollowUp.CancelledBy], [FollowUpRule.Cancels]);
//     [ReadFeedback] and [NegativeFeedback] raise an [Alert] at once.
//   - Per profile change: [SegmentChange.Trigger] and
//     [LifecycleChange.Trigger] from the old and the new state.
//   - When a cart or follow-up is due ([Cart.Due], [FollowUp.Due]):
//     [Cart.Trigger] unless the profile ordered since ([Cart.OrderedSince]),
//     [FollowUp.Trigger], with the profile as it is then.
//
// Before publishing, the resolver checks consent with [Config.Allows] on
// the profile's psychographic consent, and age with [Config.TooLate].
//
// # Ids and republishing
//
// A trigger's id is [ID](tenant, key), a UUID v5, for a key that names the
// occurrence, not the moment it was computed:
//
//	segment.entered/<profile_id>/<segment>/<profile version>   (and segment.exited)
//	lifecycle.changed/<profile_id>/<from>/<to>/<profile version>
//	cart.abandoned/<cart event id>
//	follow_up/<rule>/<source event id>
//	alert.negative_feedback/event/<event id>, or .../ticket/<ticket id> for a complaint
//
// So a batch replayed after a crash, or a trigger found due by two
// resolvers, republishes the same id, and [Trigger.At] is the due or
// event time, never the clock's. Consumers drop ids they have seen.
//
// # Consent
//
// A trigger has a purpose (cart: marketing, negative feedback: service,
// follow-ups: their rule's; lifecycle: none by default). It is not sent to
// a customer whose consent for that purpose is recorded as false. With no
// consent recorded for the purpose it is sent (opt-out, [Allowed]); the
// configuration's require_opt_in sends it only where consent is recorded
// as true. A trigger without a purpose is always sent. Purposes match the
// consent keys exactly: the email mapping records an unsubscribe as
// consent "email" false, so a tenant whose cart reminders are emails may
// set cart.purpose to email.
//
// # Negative feedback
//
// [ReadFeedback] reads an event as the profile fold does
// (profile.FeedbackConfig): NPS 0 to 10, CSAT 1 to 5 (the help-desk
// mapping rates good 5 and bad 1), the first non-blank text property
// scored by pkg/sentiment. [NegativeFeedback] alerts on NPS at most 6
// (detractors), CSAT at most 2, text labelled negative on events without
// a score (a score outweighs the lexicon's reading of one message, which
// pkg/sentiment calls a coarse signal), and complaint tickets: Ticket
// Opened or Ticket Updated events whose tags, type or category include
// "complaint". The alert carries the text cut after 1,000 characters.
//
// # Configuration
//
// The `triggers:` section, with the defaults ([Default]) and one
// follow-up rule (there are none by default):
//
//	triggers:
//	  require_opt_in: false
//	  max_lateness: 24h          # drop carts, follow-ups, alerts due longer ago (0: keep all)
//	  cart:
//	    enabled: true
//	    window: 1h
//	    events: [Product Added, Cart Viewed, Checkout Started]
//	    # order_events: [Order Completed]   # default: profile.orders.events
//	    purpose: marketing
//	  follow_ups:
//	    - name: whitepaper
//	      after_event: Whitepaper Downloaded
//	      delay: 7d              # or 168h
//	      unless_event: Demo Requested
//	      purpose: marketing
//	  negative_feedback:
//	    enabled: true
//	    nps_at_most: 6           # negative: no NPS check
//	    csat_at_most: 2          # negative: no CSAT check
//	    negative_sentiment: true
//	    complaints:
//	      events: [Ticket Opened, Ticket Updated]
//	      properties: [tags, type, category]
//	      values: [complaint]
//	    purpose: service
//	  lifecycle:
//	    enabled: true
//	    purpose: ""
package trigger
