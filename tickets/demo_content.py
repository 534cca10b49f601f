"""What an online shop's customers write about, and what its agents answer: the raw text
`tickets.demo` renders into pools of subjects and conversations for `seed_demo`.

Placeholders filled when the pools are built: {order} {product} {size} {other_size} {carrier}
{tracking} {code} {amount} {days} {card}. Filled per ticket: {first} (the customer's first
name) and {agent} (the replying agent's first name).
"""

from typing import TypedDict


class TopicText(TypedDict):
    """One kind of request, with the raw text of every part of its conversation."""

    name: str
    weight: int
    team: str
    types: dict[str, int]
    priorities: dict[str, int]
    tags: list[str]
    subjects: list[str]
    openers: list[str]
    replies: list[str]
    followups: list[str]
    notes: list[str]
    closings: list[str]


TEAMS = {
    "Orders & Shipping": "Where is my order, delivery problems, address changes, cancellations.",
    "Returns & Refunds": "Returns, exchanges, refunds and damaged or wrong items.",
    "Payments": "Declined cards, double charges, invoices, discount codes and gift cards.",
    "Product questions": "Sizing, stock, materials and how-to questions before and after buying.",
}

PRODUCTS = [
    "linen shirt", "merino wool sweater", "running shoes", "leather ankle boots", "rain jacket",
    "denim jacket", "yoga leggings", "cotton hoodie", "silk scarf", "canvas backpack",
    "ceramic coffee mugs (set of 4)", "cast iron skillet", "bamboo bedding set", "desk lamp",
    "wireless earbuds", "phone case", "water bottle", "weekend duffel bag", "wool beanie",
    "kids' rain boots", "chino trousers", "summer dress", "trail running vest", "bath towels",
    "scented candle", "standing desk mat", "travel mug", "sunglasses", "leather wallet",
    "puffer vest",
]  # fmt: skip
SIZES = ["XS", "S", "M", "L", "XL", "EU 38", "EU 40", "EU 42", "EU 44", "UK 8", "UK 10"]
CARRIERS = ["DHL", "UPS", "FedEx", "DPD", "Royal Mail", "USPS", "PostNL", "GLS"]
CODES = ["WELCOME10", "SPRING20", "FREESHIP", "VIP15", "BLACKFRIDAY", "SUMMER25", "THANKYOU5"]
CARDS = ["Visa", "Mastercard", "Amex", "PayPal", "Apple Pay"]

# Ticket tags (a ticket gets one or two of its topic's, sometimes one of EXTRA_TAGS too).
EXTRA_TAGS = ["first-order", "repeat-contact", "social-media", "escalated", "gift", "b2b"]
# Customer tags.
CUSTOMER_TAGS = ["repeat-buyer", "newsletter", "wholesale", "influencer", "fraud-watch",
                 "high-returns", "early-adopter"]  # fmt: skip

AGENT_SIGN_OFF = "\n\nBest,\n{agent}\nCustomer Care"

# Each topic: team, ticket type weights, priority weights, tags, subjects, the customer's
# opening message, agent replies, customer follow-ups, internal notes and a closing reply.
TOPICS: list[TopicText] = [
    {
        "name": "where-is-my-order",
        "weight": 22,
        "team": "Orders & Shipping",
        "types": {"question": 8, "incident": 2},
        "priorities": {"low": 1, "normal": 7, "high": 2},
        "tags": ["where-is-my-order", "shipping"],
        "subjects": [
            "Where is my order {order}?",
            "Order {order} not arrived yet",
            "Still waiting for my package",
            "Tracking hasn't updated in {days} days",
            "When will order {order} ship?",
            "No delivery update for {order}",
        ],
        "openers": [
            "Hi, I ordered a {product} {days} days ago (order {order}) and it still hasn't "
            "arrived. The tracking number {tracking} just says 'label created'. Can you check?",
            "Hello, my order {order} was supposed to arrive yesterday. {carrier} tracking "
            "shows nothing new since Monday. I need it for a trip this weekend.",
            "Where is my parcel? Order {order}. I paid for express shipping.",
            "Hi there, could you tell me when order {order} will be dispatched? The website "
            "said 1-2 business days and it has been {days}.",
        ],
        "replies": [
            "Hi {first},\n\nThanks for your patience. I checked with {carrier}: your parcel "
            "{tracking} is at their local depot and is scheduled for delivery tomorrow.",
            "Hi {first},\n\nSorry for the wait! Order {order} left our warehouse and is with "
            "{carrier} now. Tracking can take 24 hours to update; here is the link for "
            "{tracking}.",
            "Hi {first},\n\nI've opened a trace with {carrier} for parcel {tracking}. They "
            "usually answer within 2 business days, and I'll update you as soon as they do.",
        ],
        "followups": [
            "Thanks. The tracking still shows the same status today, though.",
            "Any news from {carrier}? It's been two more days.",
            "It says delivered but there is nothing at my door or with my neighbours.",
            "Great, thank you!",
        ],
        "notes": [
            "Trace opened with {carrier}, reference {tracking}. Follow up Thursday.",
            "Warehouse confirms it shipped on time; carrier delay in the region this week.",
            "If the trace comes back lost, reship at no cost (approved for orders under {amount}).",
        ],
        "closings": [
            "Hi {first},\n\nGlad to hear the parcel arrived! I'll close this ticket; just "
            "reply if anything else comes up.",
            "Hi {first},\n\n{carrier} confirmed the parcel was lost, so I've sent a "
            "replacement by express shipping at no cost. New tracking: {tracking}.",
        ],
    },
    {
        "name": "address-change",
        "weight": 6,
        "team": "Orders & Shipping",
        "types": {"task": 7, "question": 3},
        "priorities": {"normal": 6, "high": 4},
        "tags": ["address-change", "shipping"],
        "subjects": [
            "Change delivery address for {order}",
            "Wrong address on my order",
            "Can I ship order {order} to my office instead?",
        ],
        "openers": [
            "Hi, I just noticed I used my old address for order {order}. Can you change it "
            "before it ships? The new address is in my account.",
            "I made a typo in the postcode on order {order}. Please fix it before dispatch!",
        ],
        "replies": [
            "Hi {first},\n\nI caught it in time: order {order} will go to the new address.",
            "Hi {first},\n\nUnfortunately order {order} was already handed to {carrier}. "
            "I've asked them to redirect it; if they can't, it will come back to us and we "
            "will reship it.",
        ],
        "followups": [
            "Thank you so much!",
            "Okay. Will I be charged for the redirect?",
        ],
        "notes": ["Redirect requested in the {carrier} portal."],
        "closings": [
            "Hi {first},\n\nThe redirect went through and the parcel was delivered to the "
            "new address. Closing this one.",
        ],
    },
    {
        "name": "cancel-order",
        "weight": 6,
        "team": "Orders & Shipping",
        "types": {"task": 6, "question": 4},
        "priorities": {"normal": 5, "high": 5},
        "tags": ["cancel-order"],
        "subjects": [
            "Please cancel order {order}",
            "Cancel my order",
            "Ordered twice by mistake ({order})",
        ],
        "openers": [
            "Hi, please cancel order {order}, I ordered the wrong colour of the {product}.",
            "I placed the same order twice by mistake. Please cancel {order} and keep the "
            "other one.",
        ],
        "replies": [
            "Hi {first},\n\nOrder {order} is cancelled and the refund of {amount} is on its "
            "way to your {card}; it usually shows within 3-5 business days.",
            "Hi {first},\n\nThe order had already shipped, so I can't cancel it, but you can "
            "return it for free within 30 days. I've emailed you a return label.",
        ],
        "followups": [
            "Perfect, thanks for the quick help.",
            "I still see the charge on my statement.",
        ],
        "notes": ["Cancelled in the shop admin before pick; refund issued."],
        "closings": [
            "Hi {first},\n\nThe refund has been processed on our side. Have a great day!",
        ],
    },
    {
        "name": "return-request",
        "weight": 14,
        "team": "Returns & Refunds",
        "types": {"task": 6, "question": 4},
        "priorities": {"low": 3, "normal": 6, "high": 1},
        "tags": ["return", "return-label"],
        "subjects": [
            "Return request for order {order}",
            "How do I return the {product}?",
            "Need a return label",
            "Exchange {product} for size {other_size}",
            "Wrong size - can I exchange?",
        ],
        "openers": [
            "Hi, the {product} I ordered in {size} is too small. Can I exchange it for "
            "{other_size}? Order {order}.",
            "I'd like to return the {product} from order {order}. How do I get a return label?",
            "Hello, I want to send back two items from my last order, they don't fit. "
            "Is return shipping free?",
        ],
        "replies": [
            "Hi {first},\n\nOf course! I've emailed you a prepaid {carrier} return label. "
            "Once the parcel is scanned we'll ship the {product} in {other_size}.",
            "Hi {first},\n\nReturns are free within 30 days. Your label for order {order} "
            "is attached; drop the parcel at any {carrier} point.",
            "Hi {first},\n\nThe {product} in {other_size} is out of stock right now. Would "
            "you like a refund instead, or should I reserve one from the next delivery?",
        ],
        "followups": [
            "I sent it back yesterday, here's the receipt.",
            "The label link doesn't work for me.",
            "A refund is fine, thanks.",
            "Can you reserve one for me please?",
        ],
        "notes": [
            "Exchange reserved: {product} {other_size}, ships when the return is scanned.",
            "Customer has several returns this quarter; fine, within policy.",
        ],
        "closings": [
            "Hi {first},\n\nYour return arrived and the refund of {amount} has been issued "
            "to your {card}.",
            "Hi {first},\n\nYour exchange is on its way: tracking {tracking}. Enjoy!",
        ],
    },
    {
        "name": "damaged-item",
        "weight": 9,
        "team": "Returns & Refunds",
        "types": {"incident": 8, "problem": 2},
        "priorities": {"normal": 4, "high": 5, "urgent": 1},
        "tags": ["damaged", "quality"],
        "subjects": [
            "Damaged item received",
            "{product} arrived broken",
            "Item damaged in shipping - order {order}",
            "Defective {product}",
        ],
        "openers": [
            "My {product} arrived broken, the box was crushed. Photos attached. Order "
            "{order}. I'd like a replacement.",
            "The {product} I received has a tear along the seam. This was a gift and I "
            "need a replacement quickly.",
            "Hi, after two days of use the {product} stopped working. Is this covered?",
        ],
        "replies": [
            "Hi {first},\n\nI'm so sorry about that. No need to send it back: I've shipped "
            "a replacement today, tracking {tracking}.",
            "Hi {first},\n\nSorry to hear this! Could you send a photo of the damage and of "
            "the label on the box? Then I can sort out a replacement or refund right away.",
        ],
        "followups": [
            "Here are the photos.",
            "Thanks, the replacement is perfect.",
            "I'd rather have a refund, to be honest.",
        ],
        "notes": [
            "Third damaged {product} this week from the same batch; flagged to the warehouse.",
            "Filed damage claim with {carrier}.",
        ],
        "closings": [
            "Hi {first},\n\nI've refunded {amount} to your {card}. Sorry again for the trouble.",
        ],
    },
    {
        "name": "wrong-item",
        "weight": 6,
        "team": "Returns & Refunds",
        "types": {"incident": 9, "problem": 1},
        "priorities": {"normal": 6, "high": 4},
        "tags": ["wrong-item"],
        "subjects": [
            "Wrong item in my parcel",
            "Received the wrong size",
            "I got someone else's order",
        ],
        "openers": [
            "I ordered the {product} in {size} and got {other_size}. Order {order}.",
            "The parcel contained a completely different product than what I ordered.",
        ],
        "replies": [
            "Hi {first},\n\nApologies for the mix-up! The right item is on its way "
            "(tracking {tracking}) and a return label for the wrong one is in your inbox.",
        ],
        "followups": ["Got it, thank you.", "Do I need the original packaging?"],
        "notes": ["Picking error, reported to warehouse lead."],
        "closings": ["Hi {first},\n\nThe correct item was delivered. Closing this ticket."],
    },
    {
        "name": "refund-status",
        "weight": 9,
        "team": "Returns & Refunds",
        "types": {"question": 9, "incident": 1},
        "priorities": {"low": 1, "normal": 6, "high": 3},
        "tags": ["refund"],
        "subjects": [
            "Where is my refund?",
            "Refund not received for {order}",
            "Refund status",
            "Returned {days} days ago, no refund yet",
        ],
        "openers": [
            "I returned order {order} {days} days ago and still haven't received my refund "
            "of {amount}.",
            "When will my refund arrive? The tracking shows you received the return.",
        ],
        "replies": [
            "Hi {first},\n\nYour refund of {amount} was issued today to your {card}. Banks "
            "take 3-5 business days to show it.",
            "Hi {first},\n\nThe return is in our warehouse queue; refunds are issued within "
            "5 days of arrival. I've asked them to prioritise yours.",
        ],
        "followups": ["Still nothing on my statement.", "I can see it now, thanks!"],
        "notes": ["Refund stuck in the payment provider; retried manually."],
        "closings": ["Hi {first},\n\nThe refund has cleared. Thanks for your patience!"],
    },
    {
        "name": "payment-declined",
        "weight": 6,
        "team": "Payments",
        "types": {"incident": 6, "question": 4},
        "priorities": {"normal": 4, "high": 5, "urgent": 1},
        "tags": ["payment-declined", "checkout"],
        "subjects": [
            "Payment declined at checkout",
            "My {card} keeps getting declined",
            "Can't complete my order",
            "Checkout error when paying",
        ],
        "openers": [
            "I've tried three times to pay with my {card} and it's declined every time. My "
            "bank says there's no problem on their side.",
            "Checkout shows 'payment failed' but my bank shows a pending charge of {amount}.",
        ],
        "replies": [
            "Hi {first},\n\nThe pending charge is an authorisation hold and will drop off "
            "within a few days. The decline came from 3-D Secure timing out; could you try "
            "again and approve the prompt in your banking app?",
            "Hi {first},\n\nOur payment provider shows the attempts were blocked by your "
            "card issuer. Paying with PayPal or another card should work.",
        ],
        "followups": ["It worked with PayPal.", "Still declined, same error."],
        "notes": ["Provider dashboard shows do_not_honor from the issuer."],
        "closings": ["Hi {first},\n\nGreat that the order went through. Enjoy!"],
    },
    {
        "name": "double-charge",
        "weight": 4,
        "team": "Payments",
        "types": {"incident": 8, "problem": 2},
        "priorities": {"high": 7, "urgent": 3},
        "tags": ["double-charge", "refund"],
        "subjects": ["Charged twice for order {order}", "Double charge on my {card}"],
        "openers": [
            "I was charged {amount} twice for order {order}. Please refund the duplicate.",
        ],
        "replies": [
            "Hi {first},\n\nYou're right, the payment was captured twice. I've refunded the "
            "duplicate {amount}; it will show within 3-5 business days.",
        ],
        "followups": ["Thank you, that was quick."],
        "notes": ["Duplicate capture after gateway timeout; refund issued."],
        "closings": ["Hi {first},\n\nThe duplicate charge has been refunded."],
    },
    {
        "name": "discount-code",
        "weight": 7,
        "team": "Payments",
        "types": {"question": 9, "incident": 1},
        "priorities": {"low": 5, "normal": 5},
        "tags": ["discount-code", "promotion"],
        "subjects": [
            "Discount code {code} not working",
            "Forgot to apply my discount code",
            "Promo code invalid",
            "Can I still use {code}?",
        ],
        "openers": [
            "The code {code} says 'invalid' at checkout. It was in your newsletter.",
            "I forgot to enter {code} on order {order}. Can you apply it afterwards?",
        ],
        "replies": [
            "Hi {first},\n\n{code} doesn't apply to sale items, which is why it was "
            "refused. I've sent you a one-off 10% code you can use on anything.",
            "Hi {first},\n\nNo problem, I've refunded the {code} discount ({amount}) to "
            "your {card}.",
        ],
        "followups": ["Thanks, that's really kind.", "The new code works!"],
        "notes": ["Goodwill code issued, expires in 30 days."],
        "closings": ["Hi {first},\n\nHappy shopping!"],
    },
    {
        "name": "invoice",
        "weight": 4,
        "team": "Payments",
        "types": {"task": 8, "question": 2},
        "priorities": {"low": 6, "normal": 4},
        "tags": ["invoice", "b2b"],
        "subjects": ["Invoice with VAT number for {order}", "Need an invoice for my company"],
        "openers": [
            "Could you send an invoice for order {order} with our company name and VAT "
            "number? Our accounting needs it.",
        ],
        "replies": [
            "Hi {first},\n\nHere is the invoice for order {order} with your company details.",
        ],
        "followups": ["Received, thanks."],
        "notes": ["Invoice regenerated with VAT id."],
        "closings": ["Hi {first},\n\nGlad that helps."],
    },
    {
        "name": "gift-card",
        "weight": 3,
        "team": "Payments",
        "types": {"question": 7, "incident": 3},
        "priorities": {"low": 4, "normal": 6},
        "tags": ["gift-card"],
        "subjects": ["Gift card balance", "Gift card not accepted"],
        "openers": [
            "I got a gift card for my birthday but checkout says it has no balance.",
        ],
        "replies": [
            "Hi {first},\n\nThe card was activated late by the store it was bought from. "
            "It now has its full balance of {amount}.",
        ],
        "followups": ["It works now, thanks!"],
        "notes": ["Activated manually in the gift card admin."],
        "closings": ["Hi {first},\n\nEnjoy your gift!"],
    },
    {
        "name": "sizing",
        "weight": 7,
        "team": "Product questions",
        "types": {"question": 10},
        "priorities": {"low": 6, "normal": 4},
        "tags": ["sizing", "product-info"],
        "subjects": [
            "Size advice for the {product}",
            "Does the {product} run small?",
            "Which size should I order?",
        ],
        "openers": [
            "I usually wear {size}. Does the {product} run true to size?",
            "Hi! Between {size} and {other_size} for the {product}, which would you "
            "recommend? I like a relaxed fit.",
        ],
        "replies": [
            "Hi {first},\n\nThe {product} runs a little small; most customers who are "
            "between sizes go up to {other_size}.",
            "Hi {first},\n\nIt's a relaxed cut, so your usual {size} will fit well. Exchanges "
            "are free if not.",
        ],
        "followups": ["Thanks, ordering {other_size} now.", "What about the sleeve length?"],
        "notes": ["Added sizing feedback to the product page request list."],
        "closings": ["Hi {first},\n\nHappy to help. Enjoy the {product}!"],
    },
    {
        "name": "stock",
        "weight": 5,
        "team": "Product questions",
        "types": {"question": 10},
        "priorities": {"low": 7, "normal": 3},
        "tags": ["stock", "product-info"],
        "subjects": [
            "When is the {product} back in stock?",
            "{product} sold out in {size}",
            "Restock date?",
        ],
        "openers": [
            "The {product} is sold out in {size}. Will you restock it?",
            "Any idea when the {product} comes back? I'd like two.",
        ],
        "replies": [
            "Hi {first},\n\nWe expect a restock of the {product} in about {days} days. Use "
            "'notify me' on the product page and you'll get an email the moment it lands.",
        ],
        "followups": ["Thanks, I signed up for the alert."],
        "notes": ["Buying team says the restock PO is confirmed."],
        "closings": ["Hi {first},\n\nThe {product} is back in stock today!"],
    },
    {
        "name": "product-care",
        "weight": 4,
        "team": "Product questions",
        "types": {"question": 9, "problem": 1},
        "priorities": {"low": 7, "normal": 3},
        "tags": ["product-info", "care"],
        "subjects": [
            "How do I wash the {product}?",
            "Is the {product} waterproof?",
            "Materials of the {product}",
        ],
        "openers": [
            "Can the {product} go in the washing machine, or is it hand wash only?",
            "Is the {product} suitable for heavy rain? The description isn't clear.",
        ],
        "replies": [
            "Hi {first},\n\nMachine wash at 30 degrees, inside out, and lay it flat to dry.",
            "Hi {first},\n\nIt's water-resistant rather than fully waterproof: fine for "
            "showers, not for a day of heavy rain.",
        ],
        "followups": ["Good to know, thanks.", "Thanks, that's helpful."],
        "notes": ["Asked content team to add care instructions to the listing."],
        "closings": ["Hi {first},\n\nAnything else, just ask."],
    },
]

# Everyone says these sometimes.
CUSTOMER_NUDGES = [
    "Any update on this?",
    "Hello? I haven't heard back.",
    "Just following up on my message from the other day.",
]
ON_HOLD_NOTES = [
    "Waiting on {carrier} to answer the trace; on hold until then.",
    "Waiting on the warehouse to confirm stock before we promise anything.",
    "Waiting on the payment provider's investigation.",
]
ON_HOLD_REPLIES = [
    "Hi {first},\n\nI've asked our partner to look into this and will get back to you as "
    "soon as I hear from them.",
]
