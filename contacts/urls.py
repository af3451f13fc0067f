from django.urls import path

from contacts import views

app_name = "contacts"
urlpatterns = [
    path("", views.index, name="index"),
    path("extract/", views.extract, name="extract"),
    path("export.csv", views.export, name="export"),
    path("<int:contact_id>/edit/", views.edit, name="edit"),
    path("<int:contact_id>/delete/", views.delete, name="delete"),
    path("from-message/<int:message_id>/", views.extract_message, name="extract_message"),
]
