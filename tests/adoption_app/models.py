"""Models of a new adopter's own, importing public data sets: airports, stock prices, penguins."""

from django.db import models


class Airport(models.Model):
    iata = models.CharField("IATA code", max_length=3, unique=True, help_text="Three letters, like SFO.")
    name = models.CharField(max_length=200)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=50, blank=True)
    country = models.CharField(max_length=50)
    latitude = models.FloatField()
    longitude = models.FloatField()

    def __str__(self) -> str:
        return self.iata


class Company(models.Model):
    ticker = models.CharField(max_length=10, unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        verbose_name_plural = "companies"

    def __str__(self) -> str:
        return self.ticker


class StockPrice(models.Model):
    symbol = models.ForeignKey(Company, on_delete=models.CASCADE)
    date = models.DateField()
    price = models.DecimalField(max_digits=12, decimal_places=4)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["symbol", "date"], name="adoption_price_unique_day")]

    def __str__(self) -> str:
        return f"{self.symbol_id} {self.date}"


class Penguin(models.Model):
    species = models.CharField(max_length=20, choices=[("adelie", "Adelie"), ("chinstrap", "Chinstrap"), ("gentoo", "Gentoo")])
    island = models.CharField(max_length=20)
    bill_length_mm = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    bill_depth_mm = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    flipper_length_mm = models.IntegerField(null=True, blank=True)
    body_mass_g = models.IntegerField(null=True, blank=True)
    sex = models.CharField(max_length=10, choices=[("male", "Male"), ("female", "Female")], blank=True)
    year = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.species} {self.island} {self.year}"
