"""The customer journey: landing page, utility authorization, terms and the thank-you redirect."""
