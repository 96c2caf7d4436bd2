"""The members registry: who gets alerts, imported and exported as Excel writes CSV."""
